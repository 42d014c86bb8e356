"""File-name parsing and dataset indexing, on made-up names and on the real shared RAVDESS and EmoDB material."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shared_material import shared_emodb

from emo_utils.data.folds import assign_actor_folds
from emo_utils.data.manifest import dataset_name, index_dataset, load_manifest, summarize
from emo_utils.data.naming import parse_crema_d, parse_emodb, parse_ravdess
from emo_utils.errors import DataError, FilenameError


def test_parse_ravdess_reads_all_seven_fields() -> None:
    clip = parse_ravdess("Actor_12/03-01-05-02-01-02-12.wav")
    assert (clip.modality, clip.emotion, clip.intensity, clip.statement, clip.repetition) == (
        "audio-only",
        "angry",
        "strong",
        "01",
        2,
    )
    assert (clip.actor, clip.gender, clip.take_id) == ("ravdess_12", "female", "01-05-02-01-02-12")
    assert parse_ravdess("01-01-05-02-01-02-12.mp4").take_id == clip.take_id
    assert parse_ravdess("x/01-01-01-01-01-01-07.mp4").gender == "male"


@pytest.mark.parametrize(
    "name, field",
    [
        ("03-01-09-01-01-01-01.wav", "emotion"),
        ("04-01-01-01-01-01-01.wav", "modality"),
        ("03-03-01-01-01-01-01.wav", "vocal_channel"),
        ("03-01-02-03-01-01-01.wav", "intensity"),
        ("03-01-02-01-03-01-01.wav", "statement"),
        ("03-01-02-01-01-05-01.wav", "repetition"),
        ("03-01-02-01-01-01-00.wav", "actor"),
    ],
)
def test_parse_ravdess_names_the_bad_field(name: str, field: str) -> None:
    with pytest.raises(FilenameError) as err:
        parse_ravdess(f"/data/Actor_01/{name}")
    assert f"'{field}'" in str(err.value) and name in str(err.value)


@pytest.mark.parametrize("name", ["03-01-05-01-01.wav", "recording.wav", "03-01-01-02-01-01-01.wav"])
def test_parse_ravdess_rejects_malformed_names(name: str) -> None:
    with pytest.raises(FilenameError, match=name.split(".")[0]):
        parse_ravdess(name)


def test_parse_crema_d_maps_into_the_ravdess_label_space() -> None:
    clip = parse_crema_d("AudioWAV/1001_DFA_FEA_HI.wav", {"1001": "male"})
    assert (clip.emotion, clip.intensity, clip.actor, clip.gender) == ("fearful", "high", "cremad_1001", "male")
    for bad, field in [
        ("1001_DFA_XYZ_HI.wav", "emotion"),
        ("0999_DFA_ANG_HI.wav", "actor"),
        ("1001_ABC_ANG_HI.wav", "sentence"),
        ("1001_DFA_ANG_ZZ.wav", "level"),
        ("1001_DFA.wav", ""),
    ]:
        with pytest.raises(FilenameError, match=field):
            parse_crema_d(bad)


def test_crema_d_metadata_names_all_parse(shared_crema_d_meta: Path) -> None:
    import pandas as pd

    names = pd.read_csv(shared_crema_d_meta / "SentenceFilenames.csv")["Filename"]
    clips = [parse_crema_d(f"{n}.wav") for n in names]
    assert len(clips) == 7442
    assert {c.emotion for c in clips} == {"neutral", "happy", "sad", "angry", "fearful", "disgust"}
    assert len({c.actor for c in clips}) == 91


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_index_pairs_audio_and_video_of_a_take_and_reports_bad_names(tmp_path: Path) -> None:
    _touch(tmp_path / "Actor_01" / "03-01-05-01-01-01-01.wav")
    _touch(tmp_path / "Actor_01" / "01-01-05-01-01-01-01.mp4")
    _touch(tmp_path / "Actor_02" / "03-01-03-02-01-01-02.flac")
    bad = _touch(tmp_path / "Actor_02" / "03-01-13-02-01-01-02.wav")
    _touch(tmp_path / "Actor_02" / "notes.txt")
    manifest, log = index_dataset(tmp_path)
    assert len(manifest) == 2
    take = manifest.set_index("take_id").loc["01-05-01-01-01-01"]
    assert take["audio_path"].endswith(".wav") and take["video_path"].endswith(".mp4")
    assert len(log) == 1 and str(bad) in log.rows[0]["reason"] and "'emotion'" in log.rows[0]["reason"]
    with pytest.raises(FilenameError, match="03-01-13-02-01-01-02"):
        index_dataset(tmp_path, strict=True)


def test_index_errors_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset folder not found"):
        index_dataset(tmp_path / "missing")
    with pytest.raises(DataError, match="no RAVDESS, CREMA-D or EmoDB clips"):
        index_dataset(tmp_path)


def test_manifest_round_trip(tmp_path: Path) -> None:
    _touch(tmp_path / "Actor_03" / "03-01-02-01-01-01-03.wav")
    manifest, _ = index_dataset(tmp_path)
    manifest.to_csv(tmp_path / "m.csv", index=False)
    loaded = load_manifest(tmp_path / "m.csv")
    assert loaded["take_id"].tolist() == ["01-02-01-01-01-03"] and loaded["synthetic"].dtype == bool
    with pytest.raises(DataError, match="manifest not found"):
        load_manifest(tmp_path / "none.csv")


@pytest.mark.shared_data
def test_shared_ravdess_indexes_completely(shared_ravdess: Path) -> None:
    manifest, _ = index_dataset(shared_ravdess)
    assert len(manifest) == 1440
    assert manifest["actor"].nunique() == 24
    counts = manifest["emotion"].value_counts()
    assert counts["neutral"] == 96 and (counts.drop("neutral") == 192).all()
    assert (manifest["audio_path"] != "").all() and (manifest["au_path"] != "").all()
    assert (manifest["openface_path"] != "").sum() == 192
    assert manifest.drop_duplicates("actor")["gender"].value_counts().to_dict() == {"female": 12, "male": 12}
    assert not manifest["synthetic"].any()
    assert "1440 takes, 24 actors" in summarize(manifest)


def test_parse_emodb_reads_speaker_sentence_emotion_version() -> None:
    clip = parse_emodb("wav/03a01Fa.wav")
    assert (clip.dataset, clip.take_id, clip.actor, clip.gender) == ("emodb", "03a01Fa", "emodb_03", "male")
    assert (clip.emotion, clip.statement, clip.repetition, clip.modality) == ("happy", "a01", 1, "audio-only")
    assert parse_emodb("16b10Lc.flac").emotion == "bored" and parse_emodb("16b10Lc.flac").repetition == 3
    assert parse_emodb("08a02Ea.wav").gender == "female"
    emotions = [parse_emodb(f"03a01{code}a.wav").emotion for code in "WLEAFTN"]
    assert emotions == ["angry", "bored", "disgust", "fearful", "happy", "sad", "neutral"]


@pytest.mark.parametrize(
    "name, field",
    [
        ("05a01Fa.wav", "speaker"),
        ("03c01Fa.wav", "sentence"),
        ("03a01Xa.wav", "emotion"),
        ("03a01F1.wav", "version"),
    ],
)
def test_parse_emodb_names_the_bad_field(name: str, field: str) -> None:
    with pytest.raises(FilenameError) as err:
        parse_emodb(f"/data/emodb/wav/{name}")
    assert f"EmoDB field '{field}'" in str(err.value) and name in str(err.value)
    with pytest.raises(FilenameError, match="SSTTTEV"):
        parse_emodb("03a01F.wav")


def test_a_folder_of_only_misnamed_clips_lists_each_file_and_its_bad_field(tmp_path: Path) -> None:
    bad_emotion = _touch(tmp_path / "Actor_01" / "03-01-13-01-01-01-01.wav")
    bad_intensity = _touch(tmp_path / "Actor_01" / "01-01-05-03-01-01-01.mp4")
    with pytest.raises(DataError, match="no RAVDESS, CREMA-D or EmoDB clips") as error:
        index_dataset(tmp_path)
    lines = str(error.value).splitlines()
    for path, field in ((bad_emotion, "'emotion'"), (bad_intensity, "'intensity'")):
        assert any(str(path) in line and field in line for line in lines), (path, field, lines)


def test_index_emodb_folder_reports_misnamed_files(tmp_path: Path) -> None:
    for name in ("03a01Fa.wav", "08b10Lb.flac", "16a05Tc.wav"):
        _touch(tmp_path / "wav" / name)
    bad = _touch(tmp_path / "wav" / "03a01Qa.wav")
    short = _touch(tmp_path / "wav" / "3a01Fa.wav")  # a name like no corpus: judged by the folder's convention
    _touch(tmp_path / "lablaut" / "03a01Fa.lab")
    manifest, log = index_dataset(tmp_path)
    assert manifest["take_id"].tolist() == ["03a01Fa", "08b10Lb", "16a05Tc"]
    assert manifest["actor"].tolist() == ["emodb_03", "emodb_08", "emodb_16"]
    assert (manifest["audio_path"] != "").all() and (manifest[["video_path", "au_path"]] == "").all().all()
    assert set(manifest["vocal_channel"]) == {"speech"} and dataset_name(manifest) == "emodb"
    reasons = {row["path"]: row["reason"] for row in log.rows}
    assert "EmoDB field 'emotion'" in reasons[str(bad)] and "SSTTTEV" in reasons[str(short)]
    with pytest.raises(FilenameError, match="03a01Qa"):
        index_dataset(tmp_path, strict=True)


def test_emodb_five_folds_pair_one_male_with_one_female() -> None:
    speakers = [
        parse_emodb(f"{code}a01Fa.wav") for code in ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")
    ]
    actors = np.repeat([s.actor for s in speakers], 7)
    genders = np.repeat([s.gender for s in speakers], 7)
    folds = assign_actor_folds(actors, genders, 5)
    for fold in range(5):
        held_out = sorted(set(zip(actors[folds == fold], genders[folds == fold])), key=lambda pair: pair[1])
        assert [gender for _, gender in held_out] == ["female", "male"]
    for actor in set(actors):
        assert len(set(folds[actors == actor])) == 1


@pytest.mark.shared_data
def test_shared_emodb_indexes_completely() -> None:
    manifest, log = index_dataset(shared_emodb())
    assert len(manifest) == 535 and len(log) == 0
    assert manifest["actor"].nunique() == 10
    assert manifest.drop_duplicates("actor")["gender"].value_counts().to_dict() == {"female": 5, "male": 5}
    assert manifest["emotion"].value_counts().to_dict() == {
        "angry": 127,
        "bored": 81,
        "neutral": 79,
        "happy": 71,
        "fearful": 69,
        "sad": 62,
        "disgust": 46,
    }
    assert (manifest["audio_path"] != "").all() and dataset_name(manifest) == "emodb"
