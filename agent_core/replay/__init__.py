"""Run it again without the model: a successful dom run's Script (script.py), recorded with several locators
per element (recorder.py, locators.py), replayed by ReplayEngine (engine.py), which asks the model only for
a step that no longer fits and hands back the repaired script."""
