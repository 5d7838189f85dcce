import numpy as np

TARGET = "diagnosis"


def features_and_labels(frame):
    """The numeric features as float32 and the target as 0/1 (malignant = 1)."""
    X = frame.drop(columns=[TARGET]).to_numpy(np.float32)
    y = (frame[TARGET] == "malignant").astype(int).to_numpy()
    return X, y
