"""The ablation probe cannot be told apart from a real run, and still destroys what the weights compute.

Unit tests of the disturbance (values permuted within blocks of 16: dtype, per-block values,
norms, file layout and times kept; outputs changed; adapters disturbed, not zeroed), then the
``fixtures/cheaters/tells_*`` hand-ins graded on the tiny model: each computes its answers in real
runs and lets the model answer only when it believes it is being probed, and each must still be
flagged by the weight ablation.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
from course_fixtures import make_adapter
from safetensors.torch import load_file, save_file

from grader_plugin.integrity.behaviour import ablation_sample, could_not_check, judge_ablation
from grader_plugin.launch import sandbox as sandboxes
from grader_plugin.manager import get_plugin_manager
from grader_plugin.session import grade_once
from grader_plugin.settings import GradeSettings
from grader_plugin.worker.probe import BLOCK, ablate, disturb_safetensors, permute_blocks
from grader_plugin.worker.trusted_tasks import disturbed_copy

ROOT = Path(__file__).resolve().parents[2]
CHEATERS = ROOT / "fixtures" / "cheaters"
WORKS, WHY = sandboxes.probe()
PAST = 1_500_000_000_000_000_000  # nanoseconds: a file time long before the test ran


def _blocks(values: torch.Tensor) -> list[torch.Tensor]:
    """Each block of the last dimension (the last one may be shorter), values sorted."""
    rows = values.reshape(-1, values.shape[-1])
    return [rows[:, i:i + BLOCK].sort(-1).values for i in range(0, rows.shape[1], BLOCK)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_permuting_keeps_dtype_block_values_and_norms_and_changes_the_tensor(dtype):
    values = torch.randn(70, 100, generator=torch.Generator().manual_seed(1)).to(dtype)
    mixed = permute_blocks(values, torch.Generator().manual_seed(2))
    assert mixed.dtype == dtype and mixed.shape == values.shape
    assert all(torch.equal(a, b) for a, b in zip(_blocks(values), _blocks(mixed), strict=True))
    torch.testing.assert_close(mixed.double().norm(dim=-1), values.double().norm(dim=-1), rtol=1e-12, atol=0)
    assert (mixed != values).float().mean() > 0.9  # nearly every entry moved
    assert torch.equal(permute_blocks(torch.ones(64), torch.Generator()), torch.ones(64))  # norm weights stay 1.0


def test_a_quantisation_grid_survives_the_permutation():
    levels = torch.arange(16, dtype=torch.float32) * 0.01
    grid = levels[torch.randint(0, 16, (48, 96), generator=torch.Generator().manual_seed(3))]
    mixed = permute_blocks(grid, torch.Generator().manual_seed(4))
    for begin in range(0, 96, 32):  # a Q4_1 block: 32 values on 16 levels, kept
        block = mixed[:, begin:begin + 32].sort(-1).values
        assert torch.equal(block, grid[:, begin:begin + 32].sort(-1).values)
        assert int(((block[:, 1:] != block[:, :-1]).sum(-1) + 1).max()) <= 16


def test_a_safetensors_file_is_disturbed_in_place_with_its_header_size_and_times(tmp_path):
    path = tmp_path / "model.safetensors"
    tensors = {"b.weight": torch.randn(8, 64).bfloat16(), "a.norm": torch.ones(64), "ids": torch.arange(64)}
    save_file(tensors, path, metadata={"format": "pt", "note": "kept"})
    os.utime(path, ns=(PAST, PAST))
    before = path.read_bytes()
    header = before[:8 + int.from_bytes(before[:8], "little")]
    os.utime(path, ns=(PAST, PAST))
    assert disturb_safetensors(path, torch.Generator().manual_seed(5)) == 1  # only b.weight can change
    assert path.stat().st_mtime_ns == PAST and path.stat().st_atime_ns == PAST  # before reading it here
    after = path.read_bytes()
    assert len(after) == len(before) and after.startswith(header) and after != before
    loaded = load_file(path)
    assert loaded["b.weight"].dtype == torch.bfloat16 and not torch.equal(loaded["b.weight"], tensors["b.weight"])
    assert torch.equal(loaded["a.norm"], tensors["a.norm"]) and torch.equal(loaded["ids"], tensors["ids"])


@pytest.fixture(scope="module")
def disturbed(tiny_model_dir, tmp_path_factory):
    """(original model folder, disturbed copy, hand-in copy, what the trusted worker reported)."""
    root = tmp_path_factory.mktemp("probe")
    hand_in = root / "hand-in"
    make_adapter("trained", hand_in / "pkg" / "sft_model", tiny_model_dir)
    (hand_in / "pkg" / "link.safetensors").symlink_to(tiny_model_dir / "model.safetensors")
    (hand_in / "pkg" / "dangling").symlink_to(root / "nowhere")
    (hand_in / "pkg" / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    original = {p: {k: v.clone() for k, v in load_file(p).items()} for p in hand_in.rglob("adapter_model.safetensors")}
    payload = {"model": str(tiny_model_dir), "target": str(root / "copy"), "adapters_under": str(hand_in), "seed": 9}
    made = disturbed_copy(None, payload)
    return Path(tiny_model_dir), root / "copy", hand_in, made, original


def test_the_disturbed_model_copy_has_the_original_files_names_sizes_and_times(disturbed):
    source, copy, _, made, _ = disturbed
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in source.iterdir())
    for item in source.iterdir():
        twin = copy / item.name
        assert twin.stat().st_size == item.stat().st_size and twin.stat().st_mtime_ns == item.stat().st_mtime_ns
        assert (twin.read_bytes() == item.read_bytes()) == (item.suffix != ".safetensors"), item.name
    real, mixed = load_file(source / "model.safetensors"), load_file(copy / "model.safetensors")
    assert list(real) == list(mixed) and all(real[k].dtype == mixed[k].dtype for k in real)
    changed = sum(not torch.equal(real[k], mixed[k]) for k in real)
    assert made["tensors_disturbed"] == changed >= 10
    assert all(torch.equal(mixed[k], real[k]) for k in real if k.endswith("norm.weight"))  # 1.0 stays 1.0


def test_the_disturbed_model_no_longer_computes_what_the_real_one_does(disturbed):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, copy, *_ = disturbed
    tokenizer = AutoTokenizer.from_pretrained(source)
    prompts = tokenizer(["How many meters are in 3 kilometers?", "Convert 5 pounds to grams."],
                        return_tensors="pt", padding=True)
    outputs = []
    for folder in (source, copy):
        model = AutoModelForCausalLM.from_pretrained(folder).eval()
        with torch.no_grad():
            outputs.append(model.generate(**prompts, max_new_tokens=8, do_sample=False, pad_token_id=0)[:, -8:])
    assert (outputs[0] != outputs[1]).float().mean() > 0.5  # greedy continuations change almost entirely


def test_the_hand_ins_adapter_is_disturbed_not_zeroed_and_its_links_are_left_alone(disturbed):
    source, _, hand_in, made, original = disturbed
    for path, tensors in original.items():
        mixed = load_file(path)
        assert all(mixed[k].any() for k in tensors if "lora_B" in k)  # not an all-zero adapter
        assert all(not torch.equal(mixed[k], tensors[k]) for k in tensors if "lora_" in k)
    assert made["adapter_tensors_disturbed"] == sum(len([k for k in t if "lora_" in k]) for t in original.values())
    assert (hand_in / "pkg" / "link.safetensors").is_symlink() and (hand_in / "pkg" / "dangling").is_symlink()
    assert made["unreadable_weight_files"] == ["pkg/junk.safetensors"]  # skipped and named, the probe went on
    assert load_file(source / "model.safetensors").keys() == load_file(hand_in / "pkg" / "link.safetensors").keys()


def test_in_memory_ablation_disturbs_the_adapter_instead_of_zeroing_it(tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    class Holder:
        pass

    folder = Path(tiny_model_dir).parent / "in-memory-adapter"
    if not folder.exists():
        make_adapter("trained", folder, tiny_model_dir)
    holder = Holder()
    holder.model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(folder))
    before = {n: p.detach().clone() for n, p in holder.model.named_parameters()}
    record = ablate(holder, seed=3)
    after = dict(holder.model.named_parameters())
    lora = [n for n in before if "lora_" in n]
    assert record["adapter_tensors_disturbed"] == len(lora) and record["tensors_disturbed"] >= 10
    assert all(after[n].detach().any() and not torch.equal(after[n].detach(), before[n]) for n in lora)


def test_the_probe_asks_every_question_of_the_real_call_in_a_new_order():
    asked = list(range(38))
    orders = [ablation_sample(asked) for _ in range(3)]
    assert all(sorted(order) == asked for order in orders)
    assert len({tuple(order) for order in orders}) > 1


def test_a_probe_that_could_not_run_is_never_clean():
    finding = could_not_check("the disturbed copy of the base model could not be made: a dangling link")
    assert finding.severity == "unchecked" and "could not be checked" in finding.message


def test_the_finding_says_how_the_weights_were_disturbed_and_names_files_it_could_not_read():
    record = {"tensors_disturbed": 20, "adapter_tensors_disturbed": 4, "unreadable_weight_files": ["pkg/a\nb"]}
    finding = judge_ablation(18, 17, 20, record, "served ablation")
    assert finding.severity == "flag" and "18/20 -> 17/20" in finding.message
    assert f"20 weight tensors disturbed (values permuted within blocks of {BLOCK}), 4 adapter tensors disturbed" in (
        finding.evidence)
    assert "'pkg/a\\nb'" in finding.evidence and "\n" not in finding.evidence


def _graded(folder: Path, part: str, tiny_model_dir, sandbox: str = "off"):
    settings = GradeSettings(path=folder, parts=(part,), questions=8, base_model=str(tiny_model_dir), sandbox=sandbox)
    return grade_once(settings, get_plugin_manager(load_entry_points=False)).parts[0]


def _fresh_copy(name: str, target: Path) -> Path:
    """The fixture copied under ``target`` with its files' times now (newer than the tiny model's)."""
    folder = target / name
    shutil.copytree(CHEATERS / name, folder, ignore=shutil.ignore_patterns("__pycache__"))
    for path in folder.rglob("*"):
        os.utime(path)
    return folder


def _assert_caught_by_ablation(result):
    flagged = {f.detector: f for f in result.findings if f.severity == "flag"}
    assert result.points == 0 and result.value >= 0.5, result.reason  # it computed: full marks but for the flag
    ablation = flagged["behaviour: weight ablation"]
    assert "served ablation" in ablation.evidence and f"permuted within blocks of {BLOCK}" in ablation.evidence


@pytest.mark.workers
def test_a_converter_that_looks_for_noise_in_the_weights_structure_is_caught(tiny_model_dir):
    _assert_caught_by_ablation(_graded(CHEATERS / "tells_by_structure", "cot", tiny_model_dir))


@pytest.mark.workers
def test_a_converter_that_compares_model_and_package_file_times_is_caught(tiny_model_dir, tmp_path):
    _assert_caught_by_ablation(_graded(_fresh_copy("tells_by_mtime", tmp_path), "cot", tiny_model_dir))


@pytest.mark.workers
def test_a_converter_that_looks_for_an_all_zero_adapter_is_caught(tiny_model_dir, tmp_path):
    folder = _fresh_copy("tells_by_zero_adapter", tmp_path)
    make_adapter("trained", folder / "sft_model", tiny_model_dir)
    _assert_caught_by_ablation(_graded(folder, "sft", tiny_model_dir))


@pytest.mark.workers
@pytest.mark.skipif(not WORKS, reason=f"needs bubblewrap: {WHY}")
def test_a_converter_that_reads_names_paths_and_environment_is_caught_in_the_sandbox(tiny_model_dir):
    _assert_caught_by_ablation(_graded(CHEATERS / "tells_by_names", "cot", tiny_model_dir, sandbox="required"))


def _fixture_module(name: str, module: str = ""):
    import importlib
    import sys

    sys.path.insert(0, str(CHEATERS))
    try:
        return importlib.import_module(f"{name}.{module}" if module else name)
    finally:
        sys.path.remove(str(CHEATERS))


def test_the_structure_tell_sees_gaussian_noise_but_not_the_permutation(disturbed):
    from transformers import AutoModelForCausalLM

    source, copy, *_ = disturbed
    noised = _fixture_module("tells_by_structure")._noised
    real, permuted = AutoModelForCausalLM.from_pretrained(source), AutoModelForCausalLM.from_pretrained(copy)
    assert not noised(real) and not noised(permuted)
    with torch.no_grad():
        for parameter in real.parameters():
            parameter.add_(torch.randn_like(parameter) * parameter.pow(2).mean().sqrt())
    assert noised(real)  # what the probe did before: the tell worked


def test_the_zero_adapter_tell_sees_a_zeroed_adapter_but_not_a_permuted_one(disturbed, tiny_model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    _, copy, hand_in, *_ = disturbed
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(copy), str(hand_in / "pkg" / "sft_model"))
    zeroed = _fixture_module("tells_by_zero_adapter", "sft")._zeroed
    assert not zeroed(model)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_" in name:
                parameter.zero_()
    assert zeroed(model)  # what the probe did before: the tell worked
