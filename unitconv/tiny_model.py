"""A tiny randomly initialised Llama with the real tokenizer, for fast tests and fixtures.

Generation mechanics (padding, masks, shapes, sampling, LoRA training, grading pipelines) do not
need a trained model; a 2-layer model answers in milliseconds on a CPU and behaves the same way.
"""

from __future__ import annotations

from pathlib import Path


def build_tiny_model(folder: Path | str, seed: int = 0, tokenizer_source: str | None = None) -> Path:
    """Save a tiny Llama (random weights, seeded) and the base model's tokenizer into ``folder``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from unitconv import model_loader
    from unitconv.paths import make_readable

    folder = Path(folder)
    if (folder / "config.json").is_file():
        return make_readable(folder)
    tokenizer = model_loader.load_tokenizer(tokenizer_source)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
        initializer_range=0.2,  # large enough that greedy outputs differ from prompt to prompt
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return make_readable(folder)
