"""A generated, RAVDESS-shaped demo corpus (drawn faces + synthesised voices) for machines without data.

Nothing here is real data: every output computed from it must carry :data:`SYNTHETIC_NOTICE`.
"""

from emo_utils.synthetic.corpus import (
    AU_TABLE,
    SYNTHETIC_NOTICE,
    corpus_parameters,
    generate_demo_corpus,
    is_synthetic_root,
)
from emo_utils.synthetic.face import AU_NAMES, draw_face, expression_track, face_identity, render_clip
from emo_utils.synthetic.voice import SAMPLE_RATE, actor_voice, synthesize_speech

__all__ = [
    "AU_NAMES",
    "AU_TABLE",
    "SAMPLE_RATE",
    "SYNTHETIC_NOTICE",
    "actor_voice",
    "corpus_parameters",
    "draw_face",
    "expression_track",
    "face_identity",
    "generate_demo_corpus",
    "is_synthetic_root",
    "render_clip",
    "synthesize_speech",
]
