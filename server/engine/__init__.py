"""Pure numpy engine: features, scores, ranking, calibration (numpy and stdlib only)."""
