"""LoRA supervised fine-tuning shared by SFT (part 3) and RFT (part 4).

Examples are ``prompt`` + ``completion`` pairs tokenized separately and concatenated, so the
prompt's tokens at training time are exactly those the model sees at answer time; labels are
-100 on the prompt so only the completion is learned.  A part trains in steps it names itself
(:func:`solution.sft.train_model`): :func:`lora_model` puts the adapter on the loaded model,
:func:`lora_trainer` builds the transformers ``Trainer`` (tensorboard logs to a run folder),
``trainer.train()`` trains, and :func:`save_trained` saves only the final adapter into the
package; :func:`train_lora` is the same steps in one call.

Every run reports what it did (trainable parameters, share of supervised label positions, loss
at start and end, where the adapter went and its size) and refuses two silent failures with a
:class:`TrainingCheckError`: a loss that did not fall (nothing saved) and an adapter folder
outside the package it belongs to (checked before training starts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from .adapters import folder_megabytes, save_adapter

IGNORE_INDEX = -100
MIN_RELATIVE_DROP = 1e-3
"""The end loss must be at least this share below the start loss for a run to count as learning."""
LOSS_PROBE_EXAMPLES = 64
"""Training examples (evenly spread) whose loss is measured before and after training.

The loss of the first logged step is one batch's, and with batches grouped by length that batch
can be unlike the rest: continuing the SFT adapter on RFT data, the first batch held direct-answer
rows the adapter already knew (loss 0.004) while the whole mix started near 0.4."""


class TrainingDataError(ValueError):
    """A training example cannot be used (it would supervise nothing)."""


class TrainingCheckError(RuntimeError):
    """A training run that must not count: its loss did not fall, or its adapter is in the wrong place.

    The message is one line that says which and what to change; command lines print it as it is.
    """


class LossDidNotFallError(TrainingCheckError):
    """The loss at the end of training is not below the loss at its start."""


class AdapterLocationError(TrainingCheckError):
    """The adapter would be saved outside the package folder that loads it."""


@dataclass
class LoraTrainingConfig:
    """Hyper-parameters of one LoRA training run (saved next to the adapter)."""

    rank: int = field(default=8, metadata={"help": "LoRA rank; 8 keeps the adapter near 10 MB"})
    alpha: int = field(default=32, metadata={"help": "LoRA alpha, about 4x the rank"})
    learning_rate: float = 2e-3
    epochs: float = 1.0
    batch_size: int = 32
    warmup_steps: int = 5
    weight_decay: float = 0.0
    max_length: int = 256
    seed: int = 1234
    gradient_checkpointing: bool = False

    def __post_init__(self):
        if self.rank < 1 or self.alpha <= 0:
            raise ValueError(f"rank and alpha must be positive, got rank={self.rank} alpha={self.alpha}")
        if self.epochs <= 0 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError("epochs, batch_size and learning_rate must be positive")


def tokenize_example(tokenizer, prompt: str, completion: str, max_length: int) -> dict:
    """Input ids and labels that supervise only ``completion`` (and the end-of-text token)."""
    if not completion.strip():
        raise TrainingDataError(f"example {prompt[:60]!r} has an empty completion: it supervises nothing")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    if len(completion_ids) >= max_length:
        raise TrainingDataError(f"completion of {prompt[:60]!r} is longer than max_length={max_length}")
    prompt_ids = prompt_ids[-(max_length - len(completion_ids)):]  # keep the end of overlong prompts
    input_ids = prompt_ids + completion_ids
    labels = [IGNORE_INDEX] * len(prompt_ids) + completion_ids
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}


def describe_examples(tokenizer, examples: list[dict], model) -> str:
    """Diagnosis printed before training: trainable share, supervised share, one example."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    positions = sum(len(e["labels"]) for e in examples)
    supervised = sum(label != IGNORE_INDEX for e in examples for label in e["labels"])
    first = examples[0]
    shown = tokenizer.decode([t for t, label in zip(first["input_ids"], first["labels"], strict=True)
                              if label == IGNORE_INDEX])
    target = tokenizer.decode([label for label in first["labels"] if label != IGNORE_INDEX])
    return (
        f"trainable parameters: {trainable:,} of {total:,} ({100 * trainable / total:.2f}%)\n"
        f"examples: {len(examples)}; supervised label positions: {supervised:,} of {positions:,} "
        f"({100 * supervised / positions:.1f}%)\n"
        f"example: prompt {shown!r} -> supervised {target!r}"
    )


def check_adapter_location(adapter_dir: Path, package_dir: Path) -> Path:
    """``adapter_dir`` resolved, or :class:`AdapterLocationError` when it is not a folder inside ``package_dir``.

    A part loads its adapter from beside its own module (``sft_model/``, ``rft_model/``); an
    adapter saved anywhere else is not what the package, or its hand-in zip, will load.
    """
    adapter_dir, package_dir = Path(adapter_dir).resolve(), Path(package_dir).resolve()
    if adapter_dir == package_dir or not adapter_dir.is_relative_to(package_dir):
        raise AdapterLocationError(
            f"adapter folder {adapter_dir} is outside the package {package_dir}, which loads its adapter "
            f"from {package_dir}/<part>_model; give an --output-dir inside the package")
    return adapter_dir


def check_loss_fell(losses: list[float]) -> tuple[float, float]:
    """``(start, end)`` of the logged losses, or :class:`LossDidNotFallError` when end is not below start.

    "Below" means by more than :data:`MIN_RELATIVE_DROP` of the start: a loss that moves by float
    noise only has not learned anything.
    """
    import math

    if len(losses) < 2:
        raise LossDidNotFallError(f"only {len(losses)} loss value(s) logged: cannot tell whether training "
                                  f"learned anything; train for more steps (more examples or --epochs)")
    start, end = losses[0], losses[-1]
    if not (math.isfinite(end) and end < start * (1 - MIN_RELATIVE_DROP)):
        raise LossDidNotFallError(f"training loss did not fall (start {start:.4f}, end {end:.4f}); the adapter "
                                  f"was not saved into the package; change --learning-rate or check the training "
                                  f"data")
    return start, end


def _loss_recorder():
    """A transformers callback that keeps every training loss the ``Trainer`` logs, in order."""
    from transformers import TrainerCallback

    class LossRecorder(TrainerCallback):
        def __init__(self):
            self.losses: list[float] = []

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

    return LossRecorder()


def probe_loss(model, examples: list[dict], collator, count: int = LOSS_PROBE_EXAMPLES, batch_size: int = 16) -> float:
    """Mean loss per supervised token of ``count`` evenly spread ``examples`` (no gradient, eval mode)."""
    import torch

    chosen = examples[::max(1, len(examples) // count)][:count]
    was_training = model.training
    model.eval()
    total = tokens = 0.0
    with torch.no_grad():
        for start in range(0, len(chosen), batch_size):
            batch = {k: v.to(model.device) for k, v in collator(chosen[start:start + batch_size]).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
            labels = batch["labels"][:, 1:]
            losses = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), labels,
                                                       ignore_index=IGNORE_INDEX, reduction="sum")
            total += float(losses)
            tokens += int((labels != IGNORE_INDEX).sum())
    model.train(was_training)
    return total / max(tokens, 1)


def lora_model(model, config: LoraTrainingConfig, init_adapter: Path | None = None):
    """``model`` wrapped with a fresh LoRA adapter on every linear layer, or continuing ``init_adapter``.

    The seed is set first, so a fresh adapter starts from the same weights every run.
    """
    from transformers import set_seed

    set_seed(config.seed)
    if init_adapter is None:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, target_modules="all-linear", bias="none",
                          task_type="CAUSAL_LM", lora_dropout=0.0)
        model = get_peft_model(model, lora)
    else:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(init_adapter), is_trainable=True)
    if config.gradient_checkpointing:
        model.enable_input_require_grads()
    return model


@dataclass
class LoraRun:
    """A ``Trainer`` ready to train, with what :func:`save_trained` needs to check and save its result."""

    trainer: object
    tokenizer: object
    examples: list[dict]
    collator: object
    config: LoraTrainingConfig
    run_dir: Path
    start_loss: float
    losses: object  # the callback that records each logged loss


def lora_trainer(model, tokenizer, pairs: list[tuple[str, str]], config: LoraTrainingConfig,
                 run_dir: Path) -> LoraRun:
    """A transformers ``Trainer`` over ``(prompt, completion)`` pairs, its start loss measured.

    Prints what training will do (:func:`describe_examples`); checkpoints are not saved and
    tensorboard logs go to ``run_dir``.
    """
    import math

    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    examples = [tokenize_example(tokenizer, p, c, config.max_length) for p, c in pairs]
    if not examples:
        raise TrainingDataError("no training examples")
    print(describe_examples(tokenizer, examples, model), flush=True)
    tokenizer.padding_side = "right"
    steps = math.ceil(len(examples) / config.batch_size) * config.epochs
    arguments = TrainingArguments(
        output_dir=str(run_dir), report_to=["tensorboard"], per_device_train_batch_size=config.batch_size,
        num_train_epochs=config.epochs, learning_rate=config.learning_rate, lr_scheduler_type="linear",
        warmup_steps=config.warmup_steps, weight_decay=config.weight_decay,
        logging_steps=max(1, min(5, int(steps) // 3)),  # several losses even on a short run
        logging_first_step=True,  # the start loss is the first step's own
        save_strategy="no", seed=config.seed, gradient_checkpointing=config.gradient_checkpointing,
        use_cpu=next(model.parameters()).device.type == "cpu",  # train where the model was loaded
        dataloader_num_workers=0, disable_tqdm=False, remove_unused_columns=False,
        train_sampling_strategy="group_by_length",  # batches of similar length waste less compute on padding
    )
    losses = _loss_recorder()
    collator = DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE_INDEX, padding=True)
    start = probe_loss(model, examples, collator)
    trainer = Trainer(model=model, args=arguments, train_dataset=examples, data_collator=collator, callbacks=[losses])
    return LoraRun(trainer, tokenizer, examples, collator, config, Path(run_dir), start, losses)


def save_trained(run: LoraRun, adapter_dir: Path, metadata: dict | None = None,
                 files: dict[str, dict] | None = None) -> Path:
    """Check that the loss fell, then replace ``adapter_dir`` with the trained adapter; returns ``adapter_dir``.

    The start and end loss are measured on the same training examples before and after training
    (:func:`probe_loss`).  A loss that did not fall raises :class:`LossDidNotFallError`, leaves
    the adapter that was in ``adapter_dir`` as it was and keeps the new one in the run folder for a
    look.  ``training_config.json`` holds the LoRA config, the example count, the losses and
    ``metadata``; ``files`` are more JSON files saved beside the adapter (a part's own config).
    """
    model, tokenizer = run.trainer.model, run.tokenizer
    after = probe_loss(model, run.examples, run.collator)
    tokenizer.padding_side = "left"
    logged = ", ".join(f"{loss:.4f}" for loss in run.losses.losses[:1] + run.losses.losses[-1:])
    print(f"loss: start {run.start_loss:.4f}, end {after:.4f} (on {min(len(run.examples), LOSS_PROBE_EXAMPLES)} "
          f"training examples before and after; first and last logged step: {logged})", flush=True)
    described = {**asdict(run.config), "examples": len(run.examples)}
    try:
        start, end = check_loss_fell([run.start_loss, after])
    except LossDidNotFallError as error:
        kept = run.run_dir / "adapter-loss-did-not-fall"
        save_adapter(model, kept, {**described, "start_loss": run.start_loss, "end_loss": after})
        raise LossDidNotFallError(f"{error}; this run's adapter is kept for a look in {kept}") from None
    save_adapter(model, adapter_dir, {**described, **(metadata or {}), "start_loss": start, "end_loss": end}, files)
    print(f"adapter saved to {Path(adapter_dir).resolve()} ({folder_megabytes(adapter_dir):.2f} MB)", flush=True)
    return adapter_dir


def train_lora(model, tokenizer, pairs: list[tuple[str, str]], config: LoraTrainingConfig,
               run_dir: Path, adapter_dir: Path, init_adapter: Path | None = None,
               package_dir: Path | None = None, metadata: dict | None = None) -> Path:
    """Train a LoRA adapter on ``(prompt, completion)`` pairs and save only the adapter.

    The steps in one call: :func:`lora_model`, :func:`lora_trainer`, ``train()``,
    :func:`save_trained`.  With ``init_adapter``, training continues from that adapter instead of a
    fresh one.  With ``package_dir``, an ``adapter_dir`` outside it is refused before training.
    ``metadata`` goes into ``training_config.json``.  Returns ``adapter_dir``.
    """
    if package_dir is not None:
        check_adapter_location(adapter_dir, package_dir)
    model = lora_model(model, config, init_adapter)
    run = lora_trainer(model, tokenizer, pairs, config, run_dir)
    run.trainer.train()
    return save_trained(run, adapter_dir, {"init_adapter": Path(init_adapter).name if init_adapter else None,
                                           **(metadata or {})})
