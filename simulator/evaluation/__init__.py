"""Evaluation: offline metrics, closed-loop comparisons and the statistics they share."""
