"""The main job: the whole pipeline on a local broker, with simulated agencies, shown live."""
