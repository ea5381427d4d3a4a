"""Lookout's REST API (DRF): /api/v1/ for tasks, controls and keys, /v1/ for Skyvern-compatible runs."""
