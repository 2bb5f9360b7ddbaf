"""Request, response and error schemas: the API contract, and the OpenAPI document's source."""

from __future__ import annotations

import traceback
from typing import Any

from marshmallow import EXCLUDE
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields

from app.fields import DigitImage
from app.fields import DigitImageBatch
from app.fields import FloatList
from app.fields import PixelRows


class InputSchema(Schema):
    """A schema for what clients send: a body that fails it is freed with its request.

    marshmallow raises its ValidationError from a local variable, so the error's traceback
    holds the frame that holds the error: a reference cycle, which keeps the parsed body (and,
    through each frame's caller, the request) until the garbage collector next runs. A 4 MiB
    body of small JSON values parses to about 100 MB. Clearing the frames breaks the cycle.
    """

    def load(self, data: Any, **options: Any) -> Any:
        """Load data as Schema.load does.

        :raises ValidationError: as Schema.load, its traceback's frames cleared.
        """
        try:
            return super().load(data, **options)
        except ValidationError as error:
            traceback.clear_frames(error.__traceback__)
            raise


class PredictRequestSchema(InputSchema):
    """Body of POST /predict. Unknown keys are ignored, as the FastAPI service did."""

    class Meta:
        unknown = EXCLUDE

    data = DigitImage(required=True, error_messages={
        # marshmallow formats these messages: braces are doubled.
        "required": 'Missing data for required field: send {{"data": [784 values]}} (a batch, '
                    '{{"instances": [...]}}, goes to /predict/batch).'})


class BatchRequestSchema(InputSchema):
    """Body of POST /predict/batch."""

    class Meta:
        unknown = EXCLUDE

    instances = DigitImageBatch(required=True, error_messages={
        "required": 'Missing data for required field: send {{"instances": [images]}} (one '
                    'image, {{"data": [784 values]}}, goes to /predict).'})


class PredictionSchema(Schema):
    """One image's answer."""

    prediction = fields.Integer(required=True, metadata={"description": "The digit, 0 to 9."})
    confidence = fields.Float(required=True,
                              metadata={"description": "Probability of the predicted digit."})
    probabilities = FloatList(required=True,
                              metadata={"description": "Probability of each digit 0-9."})


class ImagePredictionSchema(PredictionSchema):
    """Answer of POST /predict/image: as /predict's, plus the model's input when asked."""

    input = PixelRows(metadata={"description": "With return_input=true: the 28x28 the model "
                                               "saw, rows of values in [0, 1], white ink on "
                                               "black."})


class ImageQuerySchema(InputSchema):
    """Query string of POST /predict/image."""

    class Meta:
        unknown = EXCLUDE

    return_input = fields.Boolean(load_default=False)


class BatchPredictionSchema(Schema):
    """Answer of POST /predict/batch, in the order of the instances."""

    predictions = fields.List(fields.Nested(PredictionSchema), required=True)
    count = fields.Integer(required=True)


class MessageSchema(Schema):
    """Answer of GET /."""

    message = fields.String(required=True)
    docs = fields.String()
    demo = fields.String(metadata={"description": "A page to draw a digit on."})
    openapi = fields.String()


class ModelSchema(Schema):
    """Identity of the loaded model."""

    name = fields.String(required=True)
    version = fields.String(required=True)
    sha256 = fields.String(required=True)


class RefusalSchema(Schema):
    """The last model file the master refused on a reload, and why."""

    time = fields.String(metadata={"description": "When (UTC, ISO 8601)."})
    path = fields.String()
    sha256 = fields.String(allow_none=True, metadata={"description": "null if unreadable."})
    reason = fields.String()


class ReloadsSchema(Schema):
    """Reloads (HUP) the Gunicorn master ran since it started, by outcome."""

    accepted = fields.Integer(metadata={"description": "A new model file, checked and served."})
    unchanged = fields.Integer(metadata={"description": "The same bytes as the served model."})
    refused = fields.Integer(metadata={"description": "Refused: the last good model kept."})
    last_refusal = fields.Nested(RefusalSchema, allow_none=True)


class ContractSchema(Schema):
    """How the service feeds and reads this model (README, "Serve your own model")."""

    input = fields.String(metadata={"description": "The model's input tensor."})
    layout = fields.String(metadata={"description": "nchw (N, 1, 28, 28), nhw (N, 28, 28), "
                                                    "flat (N, 784) or nhwc (N, 28, 28, 1)."})
    batch = fields.Integer(allow_none=True, metadata={
        "description": "The model's fixed batch size (batches are run in slices of it), or "
                       "null when it takes any."})
    output = fields.String(metadata={"description": "The output of 10 scores an image served."})
    output_kind = fields.String(metadata={
        "description": "probabilities, logits or log_probabilities (answers are always "
                       "probabilities)."})
    input_range = fields.String(metadata={
        "description": "The pixel values the model takes: 0-1, 0-255 or mnist (standardised); "
                       "the service converts from [0, 1]."})


class ModelDetailSchema(ModelSchema):
    """Answer of GET /model: the model card's figures and this worker's session."""

    size_bytes = fields.Integer()
    input_name = fields.String()
    output_name = fields.String()
    threads = fields.Integer(metadata={"description": "onnxruntime intra-op threads."})
    pid = fields.Integer(metadata={"description": "The worker process that created the session."})
    load_ms = fields.Float(metadata={"description": "Time to load and warm up the model."})
    onnxruntime_version = fields.String()
    metadata = fields.Dict(keys=fields.String(), values=fields.String(),
                           metadata={"description": "The ONNX file's metadata_props."})
    contract = fields.Nested(ContractSchema)
    loaded_from = fields.String(metadata={
        "description": "The file this worker read: `path`, or under Gunicorn the master's "
                       "checked copy of it."})
    reloads = fields.Nested(ReloadsSchema, allow_none=True, metadata={
        "description": "What the master did with the model file on HUP (null without "
                       "Gunicorn)."})


class HealthSchema(Schema):
    """Answer of GET /health, /livez and /readyz."""

    status = fields.String(required=True)
    model_loaded = fields.Boolean()
    model = fields.Nested(ModelSchema)
    pid = fields.Integer(metadata={"description": "The worker process that answered."})
    session_pid = fields.Integer(
        metadata={"description": "The process that created this worker's onnxruntime session."})
    message = fields.String(metadata={"description": "Why the model cannot answer."})
