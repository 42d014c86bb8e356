"""One fingerprint decides whether a stage is current: it follows parameters, version and inputs, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emo_utils.stages import STAGE_FILE, Stage, recorded_fingerprint

FACES = Stage("faces", 1, {"detector": "haar", "takes": "abc"})
VIT = Stage("vit", 1, {"model": "vit-base", "device": "cpu"}, (FACES,))


@dataclass
class ClipSettings:
    n_frames: int = 8


def test_fingerprint_follows_parameters_version_and_inputs() -> None:
    changed = [
        Stage("vit", 1, {"model": "vit-large", "device": "cpu"}, (FACES,)),  # a parameter
        Stage("vit", 2, {"model": "vit-base", "device": "cpu"}, (FACES,)),  # the code version
        Stage("vit", 1, {"model": "vit-base", "device": "cpu"}, (Stage("faces", 2, FACES.params),)),  # an input's
        Stage("vit", 1, {"model": "vit-base", "device": "cpu"}),  # an input less
        Stage("fer", 1, {"model": "vit-base", "device": "cpu"}, (FACES,)),  # another stage of the same settings
    ]
    fingerprints = {VIT.fingerprint, *(stage.fingerprint for stage in changed)}
    assert len(fingerprints) == len(changed) + 1


def test_fingerprint_ignores_dict_order_input_order_and_unrelated_stages() -> None:
    other = Stage("audio_mfcc", 1, {"seed": 0})
    reordered = Stage("vit", 1, {"device": "cpu", "model": "vit-base"}, (FACES,))
    assert reordered.fingerprint == VIT.fingerprint
    both = Stage("early", 1, {}, (VIT, other))
    assert Stage("early", 1, {}, (other, VIT)).fingerprint == both.fingerprint
    # bumping a stage changes the stages that read it, not the others
    bumped = Stage("audio_mfcc", 2, {"seed": 0})
    assert Stage("early", 1, {}, (VIT, bumped)).fingerprint != both.fingerprint
    assert Stage("vit", 1, VIT.params, (FACES,)).fingerprint == VIT.fingerprint
    # a finished stage known only by its recorded fingerprint counts as that stage
    assert Stage("early", 1, {}, (VIT.fingerprint, other)).fingerprint == both.fingerprint


def test_dataclass_and_tuple_parameters_hash_as_their_values() -> None:
    assert (
        Stage("clips", 1, {"clip": ClipSettings()}).fingerprint
        == Stage("clips", 1, {"clip": {"n_frames": 8}}).fingerprint
    )
    assert (
        Stage("clips", 1, {"clip": ClipSettings(16)}).fingerprint
        != Stage("clips", 1, {"clip": ClipSettings()}).fingerprint
    )
    assert Stage("t", 1, {"hidden": (64, 32)}).fingerprint == Stage("t", 1, {"hidden": [64, 32]}).fingerprint


def test_a_stage_is_current_only_once_marked_done_with_its_outputs(tmp_path: Path) -> None:
    folder = VIT.folder(tmp_path)
    assert folder == tmp_path / f"vit-{VIT.fingerprint}"
    assert not VIT.is_current(folder) and recorded_fingerprint(folder) is None
    folder.mkdir()
    (folder / "vit.npz").write_bytes(b"")
    VIT.mark_done(folder)
    assert recorded_fingerprint(folder) == VIT.fingerprint
    assert VIT.is_current(folder, ("vit.npz",))
    assert not VIT.is_current(folder, ("vit.npz", "missing.csv"))
    assert not Stage("vit", 2, VIT.params, VIT.inputs).is_current(folder)
    (folder / STAGE_FILE).write_text('{"key": "made before fingerprints"}')
    assert not VIT.is_current(folder)
