"""The columns lakeloop adds to a training set: its own module so that model code can name
them without importing the lake (``training_sets`` reads Delta tables; a model trains on
frames from anywhere, a GPU machine without ``deltalake`` included)."""

SPLIT = "split"
LABEL = "label"  # lakeloop's name for the 0/1 outcome in training sets and scores
