// BrowserMicrophone: records the learner's microphone and sends 16-bit PCM chunks to the kernel.
//
// getUserMedia -> MediaStreamSource -> AudioWorklet (float32 -> int16, resampled if needed,
// cut into ~chunk_ms pieces) -> model.send({type: "audio", seq}, callbacks, [buffer]).
// One recorder per widget (not per view): it lives in `recorders`, keyed by the widget's `_key`.

// The worklet runs on the audio thread; it is loaded from a Blob URL so no file has to be served.
const WORKLET = `
class DgwPcmChunker extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { targetRate, chunkMs } = options.processorOptions;
    // sampleRate is the context's rate (a global of the worklet scope).
    this.step = sampleRate / targetRate; // input samples per output sample
    this.size = Math.max(1, Math.round((targetRate * chunkMs) / 1000));
    this.out = new Int16Array(this.size);
    this.n = 0;
    this.sumSq = 0;
    this.pos = 0; // where the next output sample falls, in input samples from the block start
    this.prev = 0; // last filtered input sample of the previous block, at index -1
    // Two one-pole low-passes below the target Nyquist keep downsampling from aliasing badly;
    // good enough for speech recognition, and cheap.
    const fc = 0.45 * targetRate;
    this.alpha = this.step > 1 ? 1 - Math.exp((-2 * Math.PI * fc) / sampleRate) : 1;
    this.lp1 = 0;
    this.lp2 = 0;
    this.done = false;
    this.port.onmessage = (e) => {
      if (e.data === "stop") {
        this.flush();
        this.done = true;
        this.port.postMessage({ stopped: true });
      }
    };
  }
  emit(x) {
    const s = x > 1 ? 1 : x < -1 ? -1 : x;
    this.out[this.n++] = s < 0 ? s * 32768 : s * 32767;
    this.sumSq += s * s;
    if (this.n === this.size) this.flush();
  }
  flush() {
    if (!this.n) return;
    const pcm = this.out.slice(0, this.n);
    const rms = Math.sqrt(this.sumSq / this.n);
    this.n = 0;
    this.sumSq = 0;
    this.port.postMessage({ pcm: pcm.buffer, rms }, [pcm.buffer]);
  }
  process(inputs) {
    if (this.done) return false;
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true; // no input connected yet
    const x = channels[0]; // the node downmixes to one channel (channelCountMode "explicit")
    if (this.step === 1) {
      for (let i = 0; i < x.length; i++) this.emit(x[i]);
      return true;
    }
    const y = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      this.lp1 += this.alpha * (x[i] - this.lp1);
      this.lp2 += this.alpha * (this.lp1 - this.lp2);
      y[i] = this.lp2;
    }
    // Linear interpolation; index -1 is the previous block's last sample, so blocks join seamlessly.
    while (this.pos < y.length - 1) {
      const i = Math.floor(this.pos);
      const f = this.pos - i;
      const a = i < 0 ? this.prev : y[i];
      this.emit(a + f * (y[i + 1] - a));
      this.pos += this.step;
    }
    this.pos -= y.length;
    this.prev = y[y.length - 1];
    return true;
  }
}
registerProcessor("dgw-pcm-chunker", DgwPcmChunker);
`;

const recorders = new Map();

function explain(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError")
    return "permission denied";
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError")
    return "no microphone";
  if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError")
    return "microphone busy (is another application using it?)";
  return `microphone error: ${(err && err.message) || err}`;
}

class Recorder {
  constructor(model) {
    this.model = model;
    this.state = "idle"; // idle | starting | recording | error
    this.message = "";
    this.rms = 0;
    this.views = new Set();
    this.stream = null;
    this.ctx = null;
    this.node = null;
    this.seq = 0;
  }

  notify() {
    for (const view of this.views) view();
  }

  fail(message) {
    this.teardown();
    this.state = "error";
    this.message = message;
    this.model.send({ type: "error", message });
    this.notify();
  }

  async start() {
    if (this.state === "starting" || this.state === "recording") return;
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      this.fail("needs HTTPS or localhost");
      return;
    }
    this.state = "starting";
    this.message = "";
    this.notify();
    const target = this.model.get("sample_rate");
    try {
      // Processing meant for calls would distort what the recognizer hears: turn it all off.
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
    } catch (err) {
      this.fail(explain(err));
      return;
    }
    try {
      let source;
      try {
        this.ctx = new AudioContext({ sampleRate: target });
        source = this.ctx.createMediaStreamSource(this.stream);
      } catch (err) {
        // Firefox can't connect a microphone to a context at another rate: record at the
        // default rate and let the worklet resample.
        if (this.ctx) this.ctx.close();
        this.ctx = new AudioContext();
        source = this.ctx.createMediaStreamSource(this.stream);
      }
      if (this.ctx.state !== "running") {
        // Without a click the context may stay suspended (autoplay policy): don't wait forever.
        await Promise.race([this.ctx.resume(), new Promise((r) => setTimeout(r, 1000))]);
        if (this.ctx.state !== "running") {
          this.fail("the browser wants a click: press Start microphone");
          return;
        }
      }
      const url = URL.createObjectURL(new Blob([WORKLET], { type: "application/javascript" }));
      try {
        await this.ctx.audioWorklet.addModule(url);
      } finally {
        URL.revokeObjectURL(url);
      }
      this.node = new AudioWorkletNode(this.ctx, "dgw-pcm-chunker", {
        numberOfInputs: 1,
        numberOfOutputs: 1,
        channelCount: 1,
        channelCountMode: "explicit",
        channelInterpretation: "speakers",
        processorOptions: { targetRate: target, chunkMs: this.model.get("chunk_ms") },
      });
      this.seq = 0;
      this.node.port.onmessage = (e) => {
        if (e.data.pcm) {
          this.model.send({ type: "audio", seq: this.seq++ }, undefined, [e.data.pcm]);
          this.rms = e.data.rms;
          this.notify();
        } else if (e.data.stopped) {
          this.model.send({ type: "stopped" });
          this.teardown();
        }
      };
      source.connect(this.node);
      // The node writes silence; connecting it to the output keeps the graph pulling it in every browser.
      this.node.connect(this.ctx.destination);
      for (const track of this.stream.getAudioTracks()) {
        track.addEventListener("ended", () => this.state === "recording" && this.fail("microphone disconnected"));
      }
      // "started" goes before the first chunk (the worklet needs ~chunk_ms to fill one).
      this.model.send({ type: "started", context_rate: this.ctx.sampleRate });
      this.state = "recording";
      this.notify();
    } catch (err) {
      this.fail(`audio setup failed: ${(err && err.message) || err}`);
    }
  }

  stop() {
    if (this.state === "starting") {
      this.teardown();
      this.state = "idle";
      this.notify();
      return;
    }
    if (this.state !== "recording") return;
    this.state = "idle";
    this.rms = 0;
    this.notify();
    // The worklet flushes its partial chunk, then answers "stopped" (see port.onmessage).
    if (this.node) this.node.port.postMessage("stop");
    else this.teardown();
  }

  teardown() {
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    if (this.node) this.node.disconnect();
    if (this.ctx && this.ctx.state !== "closed") this.ctx.close();
    this.stream = this.ctx = this.node = null;
  }
}

function recorderFor(model) {
  const key = model.get("_key");
  let rec = recorders.get(key);
  if (!rec) {
    rec = new Recorder(model);
    recorders.set(key, rec);
  }
  return rec;
}

function initialize({ model }) {
  const rec = recorderFor(model);
  model.on("msg:custom", (msg) => {
    if (msg.type === "start") rec.start();
    else if (msg.type === "stop") rec.stop();
  });
  return () => {
    rec.stop();
    rec.teardown();
    recorders.delete(model.get("_key"));
  };
}

function render({ model, el }) {
  const rec = recorderFor(model);
  el.classList.add("dgw-widget", "dgw-mic");
  const button = document.createElement("button");
  button.className = "dgw-button";
  const meter = document.createElement("div");
  meter.className = "dgw-meter";
  const bar = document.createElement("div");
  bar.className = "dgw-meter-bar";
  meter.append(bar);
  const status = document.createElement("span");
  status.className = "dgw-status";
  el.append(button, meter, status);

  function draw() {
    const recording = rec.state === "recording";
    button.textContent = recording ? "■ Stop microphone" : rec.state === "starting" ? "… starting" : "● Start microphone";
    button.disabled = rec.state === "starting";
    // A host (StreamLab) may start and stop the recorder itself; a refusal that needs a click brings the button back.
    button.style.display = model.get("show_button") || rec.state === "error" ? "" : "none";
    el.dataset.state = rec.state;
    // dB scale: speech at -30 dBFS fills about half the meter.
    const db = 20 * Math.log10(Math.max(rec.rms, 1e-5));
    bar.style.width = recording ? `${Math.max(0, Math.min(100, ((db + 60) / 60) * 100))}%` : "0%";
    const received = model.get("samples_received") / model.get("sample_rate");
    status.textContent =
      rec.state === "error"
        ? `⚠ ${rec.message}`
        : recording
          ? `recording · ${received.toFixed(1)} s received`
          : rec.state === "starting"
            ? "asking for the microphone…"
            : model.get("status") === "stopped"
              ? `stopped · ${received.toFixed(1)} s recorded`
              : model.get("show_button")
                ? "idle: click to record (the browser asks for permission)"
                : "idle: Start records from this microphone (the browser asks for permission)";
  }
  button.addEventListener("click", () => (rec.state === "recording" ? rec.stop() : rec.start()));
  rec.views.add(draw);
  model.on("change:samples_received", draw);
  model.on("change:status", draw);
  model.on("change:show_button", draw);
  draw();
  if (model.get("autostart") && rec.state === "idle" && model.get("status") === "idle") rec.start();
  return () => rec.views.delete(draw);
}

export default { initialize, render };
