"""sam_edge.serve: SAM as a local service (HTTP + WebSocket), for prototypes that segment what a user looks at.

``sam-edge serve`` (sam_edge/commands/serve_cmd.py) runs it; docs/protocol.md is the contract. Nothing
here is imported by ``sam_edge`` or ``sam_edge.runtime``: the ASGI stack (Starlette, uvicorn,
websockets; the ``serve`` extra) loads only when a server is built. The parts:

- ``settings``: every limit and default, one frozen dataclass;
- ``app``: builds the Starlette app, starts uvicorn (in the foreground or a background thread);
- ``service``: what one process holds (models, workers, images, sessions);
- ``encoder_worker`` / ``decoder_worker``: one encoder thread (newest video frame wins) and one
  decoder thread, so a prompt never waits behind an encode;
- ``fixation``: the I-VT gaze filter; ``prompt_slot``: latest-wins hand-over of prompts and frames;
- ``http_routes``, ``stream``: the HTTP routes and the WebSocket session; ``prompt_fields``,
  ``stream_messages``, ``mask_messages``, ``http_body``, ``image_store``: what they validate, send,
  read and keep.
"""
