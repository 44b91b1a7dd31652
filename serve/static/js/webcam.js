// The webcam: camera frames (getUserMedia) sent to the stream as JPEG binary messages, newest first.
//
// At most MAX_IN_FLIGHT frames are unanswered at a time (one being encoded, one waiting), so the
// encoder is never idle and never behind; a camera frame that arrives while both are taken is not
// sent (counted in skipped). Each sent frame is kept as a canvas until the server's "frame" answer,
// so the page shows the very frame whose embedding the track mask belongs to.

const MAX_IN_FLIGHT = 2;
const JPEG_QUALITY = 0.8;
const SENT_TIMES = 16;

export class CameraRefused extends Error {}

export class Webcam {
  /** stream: the Stream; onShown(canvas, frameMessage) when an encoded frame is to be shown. */
  constructor(stream, { onShown }) {
    this.stream = stream;
    this.onShown = onShown;
    this.video = document.createElement("video");
    this.video.muted = true;
    this.video.playsInline = true;
    this.media = null;
    this.kept = new Map(); // frame_id -> canvas
    this.sentAt = new Map(); // frame_id -> performance.now() when sent (the last SENT_TIMES frames)
    this.inFlight = 0;
    this.skipped = 0;
    this.sent = 0;
    this.serverDropped = 0;
  }

  get running() {
    return this.media !== null;
  }

  get width() {
    return this.video.videoWidth;
  }

  get height() {
    return this.video.videoHeight;
  }

  async start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new CameraRefused("this browser offers no camera here (getUserMedia needs https or localhost)");
    }
    try {
      this.media = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 } },
        audio: false,
      });
    } catch (error) {
      throw new CameraRefused(`the browser refused the camera (${error.name}: ${error.message})`);
    }
    this.video.srcObject = this.media;
    await this.video.play();
    this.scheduleNext();
  }

  stop() {
    if (this.media) for (const track of this.media.getTracks()) track.stop();
    this.media = null;
    this.video.srcObject = null;
    this.kept.clear();
    this.inFlight = 0;
  }

  /** The stream closed: nothing sent is answered any more. */
  reset() {
    this.kept.clear();
    this.sentAt.clear();
    this.inFlight = 0;
  }

  scheduleNext() {
    if (!this.running) return;
    if (this.video.requestVideoFrameCallback) this.video.requestVideoFrameCallback(() => this.onCameraFrame());
    else setTimeout(() => this.onCameraFrame(), 33);
  }

  onCameraFrame() {
    if (!this.running) return;
    if (this.stream.isOpen && this.inFlight < MAX_IN_FLIGHT && this.width > 0) this.send();
    else if (this.stream.isOpen) this.skipped += 1;
    this.scheduleNext();
  }

  send() {
    const canvas = document.createElement("canvas");
    canvas.width = this.width;
    canvas.height = this.height;
    canvas.getContext("2d").drawImage(this.video, 0, 0, canvas.width, canvas.height);
    this.inFlight += 1;
    canvas.toBlob(
      (blob) => {
        if (!blob || !this.running || !this.stream.isOpen) {
          this.inFlight = Math.max(0, this.inFlight - 1);
          return;
        }
        const frameId = this.stream.sendFrame(blob);
        this.kept.set(frameId, canvas);
        this.sentAt.set(frameId, performance.now());
        if (this.sentAt.size > SENT_TIMES) this.sentAt.delete(this.sentAt.keys().next().value);
        this.sent += 1;
      },
      "image/jpeg",
      JPEG_QUALITY,
    );
  }

  /** The server's {"type": "frame"} or a frame error: show that frame, forget older ones. */
  onFrameAnswer(message) {
    this.inFlight = Math.max(0, this.inFlight - 1);
    const canvas = this.kept.get(message.frame_id);
    for (const id of [...this.kept.keys()]) if (id <= message.frame_id) this.kept.delete(id);
    if (message.type === "frame") {
      this.serverDropped += message.dropped || 0;
      if (canvas) this.onShown(canvas, message);
    }
  }

  /** Camera frames never encoded: skipped here (two in flight) plus replaced on the server. */
  get dropped() {
    return this.skipped + this.serverDropped;
  }
}
