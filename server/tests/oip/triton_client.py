"""Talks to Trellis with tritonclient (HTTP/JSON): health, metadata, readiness and inference."""
import json
import os

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

url = os.environ["TRELLIS_URL"]
auth = {"Authorization": f"Bearer {os.environ['TRELLIS_TOKEN']}"}


def text(v):
    # BYTES elements come back as bytes from binary data and as str from JSON.
    return v.decode() if isinstance(v, bytes) else str(v)


def auth_headers():
    # A fresh dict per call: the client writes its own headers into the one it is given.
    return dict(auth)

model = os.environ["TRELLIS_MODEL"]
row = json.loads(os.environ["TRELLIS_ROW"])

client = httpclient.InferenceServerClient(url=url)
live = client.is_server_live()
meta = client.get_model_metadata(model, headers=auth_headers())
model_ready = client.is_model_ready(model, headers=auth_headers())

# The client's defaults: binary input data after a JSON header, every output as binary data.
tensor = httpclient.InferInput("input", [1, len(row)], "FP64")
tensor.set_data_from_numpy(np.array([row], dtype=np.float64))
result = client.infer(model, [tensor], headers=auth_headers())
label = result.as_numpy("label")[0]
probabilities = result.as_numpy("probabilities")[0].tolist()
binary_outputs = [o["name"] for o in result.get_response()["outputs"] if "binary_data_size" in o.get("parameters", {})]
assert sorted(binary_outputs) == ["label", "probabilities"], result.get_response()

# Outputs as JSON when asked: the same answer.
as_json = client.infer(model, [tensor], outputs=[httpclient.InferRequestedOutput("label", binary_data=False),
                                                 httpclient.InferRequestedOutput("probabilities", binary_data=False)], headers=auth_headers())
assert as_json.get_response()["outputs"][1]["data"] == probabilities, as_json.get_response()
assert text(as_json.as_numpy("label")[0]) == text(label)

# JSON data, one tensor per feature (FP32), asking for the label only.
names = [i["name"] for i in meta["inputs"]]
tensors = []
for name, value in zip(names, row):
    t = httpclient.InferInput(name, [1], "FP32")
    t.set_data_from_numpy(np.array([value], dtype=np.float32), binary_data=False)
    tensors.append(t)
by_feature = client.infer(model, tensors, outputs=[httpclient.InferRequestedOutput("label", binary_data=False)], headers=auth_headers())
assert text(by_feature.as_numpy("label")[0]) == text(label), (by_feature.as_numpy("label"), label)
assert by_feature.as_numpy("probabilities") is None

# A wrong shape is an error the client raises, with the server's message.
try:
    bad = httpclient.InferInput("input", [1, 3], "FP64")
    bad.set_data_from_numpy(np.array([[1.0, 2.0, 3.0]]), binary_data=False)
    client.infer(model, [bad], headers=auth_headers())
    raise SystemExit("a wrong shape was accepted")
except InferenceServerException as e:
    assert "features" in str(e), str(e)

print(json.dumps({
    "live": live,
    "model_ready": model_ready,
    "inputs": len(meta["inputs"]),
    "label": text(label),
    "probabilities": probabilities,
}))
