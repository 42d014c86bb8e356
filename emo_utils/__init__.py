"""emo_utils."""
