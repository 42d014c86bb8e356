"""Analyses on a run's saved artifacts: data exploration, the leakage and enrolment lessons, fusion analyses,
the robustness curve and the interactive fusion panel."""
