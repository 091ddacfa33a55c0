"""Pure numpy scoring engine: features, scores, ranking, calibration. Imports numpy and stdlib only."""
