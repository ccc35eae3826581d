// edgebeam browser SDK: signaling over WSS, presence, token refresh, reconnect, and WebRTC calls
// set up with perfect negotiation. A dependency-free ES module; see docs/sdk.md.
//
//   import { Edgebeam } from "https://BOX:8443/sdk/edgebeam.js";
//   const eb = new Edgebeam({ url: "wss://BOX:8443/v1/signal", getToken: () => fetchTokenFromMyBackend() });
//   await eb.connect();
//   const call = eb.call({ gid: "room-1", pid: "bob" }, { dataChannel: "chat" });

const NO_RECONNECT = new Set([4001, 4002, 4003, 4005, 4008, 1009]);
const RTC_KIND = "edgebeam-rtc";

export const peerKey = (peer) => `${peer.gid}/${peer.pid}`;

function jitter(ms) {
  return ms / 2 + Math.random() * (ms / 2);
}

export class EdgebeamError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

/** One RTCPeerConnection to one remote peer, negotiated "perfectly" (both sides may offer). */
export class Call extends EventTarget {
  constructor(client, peer, polite, rtcConfig) {
    super();
    this.client = client;
    this.peer = peer;
    this.polite = polite;
    this.pc = new RTCPeerConnection(rtcConfig);
    this.channels = new Map();
    this._makingOffer = false;
    this._ignoreOffer = false;
    this.pc.onnegotiationneeded = async () => {
      try {
        this._makingOffer = true;
        await this.pc.setLocalDescription();
        await this._send({ description: this.pc.localDescription });
      } catch (e) {
        this._fail(e);
      } finally {
        this._makingOffer = false;
      }
    };
    this.pc.onicecandidate = ({ candidate }) => {
      if (candidate) this._send({ candidate }).catch(() => {});
    };
    this.pc.ondatachannel = ({ channel }) => this._addChannel(channel);
    this.pc.ontrack = (ev) => this.dispatchEvent(Object.assign(new Event("track"), { track: ev.track, streams: ev.streams }));
    this.pc.onconnectionstatechange = () => {
      this.dispatchEvent(Object.assign(new Event("state"), { state: this.pc.connectionState }));
      if (this.pc.connectionState === "failed") this.pc.restartIce();
    };
  }

  /** Opens a data channel (negotiation starts by itself). */
  createDataChannel(label, options) {
    return this._addChannel(this.pc.createDataChannel(label, options));
  }

  /** Adds a local media stream's tracks. */
  addStream(stream) {
    for (const track of stream.getTracks()) this.pc.addTrack(track, stream);
  }

  /** New TURN credentials arrived (`refreshed`): use them from now on. Relay allocations made
   * with the old ones end at the old token's expiry, so a connected call restarts ICE at once
   * to move onto allocations made with the new ones; media keeps flowing meanwhile. */
  _updateIceServers(iceServers) {
    try {
      this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers });
    } catch (e) {
      return;
    }
    if (this.pc.connectionState === "connected") this.pc.restartIce();
  }

  close() {
    this.pc.close();
    this.client._calls.delete(peerKey(this.peer));
    this.dispatchEvent(new Event("close"));
  }

  _addChannel(channel) {
    this.channels.set(channel.label, channel);
    this.dispatchEvent(Object.assign(new Event("datachannel"), { channel }));
    return channel;
  }

  _send(payload) {
    return this.client.send(this.peer, { kind: RTC_KIND, ...JSON.parse(JSON.stringify(payload)) });
  }

  _fail(error) {
    this.dispatchEvent(Object.assign(new Event("error"), { error }));
  }

  async _onSignal(data) {
    try {
      if (data.description) {
        const d = data.description;
        const collision = d.type === "offer" && (this._makingOffer || this.pc.signalingState !== "stable");
        this._ignoreOffer = !this.polite && collision;
        if (this._ignoreOffer) return;
        await this.pc.setRemoteDescription(d);
        if (d.type === "offer") {
          await this.pc.setLocalDescription();
          await this._send({ description: this.pc.localDescription });
        }
      } else if (data.candidate) {
        try {
          await this.pc.addIceCandidate(data.candidate);
        } catch (e) {
          if (!this._ignoreOffer) throw e;
        }
      }
    } catch (e) {
      this._fail(e);
    }
  }
}

/**
 * The signaling client. Events: "welcome", "presence" ({event, peer}), "signal" ({from, data}) for
 * app messages, "call" ({call}) when a remote peer starts a call, "expiring", "reconnecting"
 * ({delay}), "close" ({code, reason}), "error" ({error}).
 */
export class Edgebeam extends EventTarget {
  constructor({ url, getToken, forceRelay = false, rtcConfig = {}, minBackoff = 500, maxBackoff = 30000 } = {}) {
    super();
    if (!url || typeof getToken !== "function") throw new TypeError("Edgebeam needs { url, getToken }");
    Object.assign(this, { url, getToken, forceRelay, rtcConfig, minBackoff, maxBackoff });
    this.self = null;
    this.peers = new Map();
    this.iceServers = [];
    this.expiresAt = 0;
    this._ws = null;
    this._nextId = 1;
    this._pending = new Map();
    this._calls = new Map();
    this._attempt = 0;
    this._closedByUser = false;
  }

  /** Connects and authenticates; resolves with the welcome message. */
  connect() {
    this._closedByUser = false;
    return new Promise((resolve, reject) => this._open(resolve, reject));
  }

  async _open(resolve, reject) {
    let token;
    try {
      token = await this.getToken();
    } catch (e) {
      return this._retry(reject ? () => reject(e) : null, e);
    }
    const ws = new WebSocket(this.url);
    this._ws = ws;
    let welcomed = false;
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token }));
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.type === "welcome") {
        welcomed = true;
        this._attempt = 0;
        this.self = msg.self;
        this.iceServers = msg.ice_servers;
        this.expiresAt = msg.expires_at;
        this.peers = new Map(msg.peers.map((p) => [peerKey(p), p]));
        this.dispatchEvent(Object.assign(new Event("welcome"), { message: msg }));
        if (resolve) resolve(msg);
        resolve = reject = null;
        return;
      }
      this._onMessage(msg);
    };
    ws.onclose = (ev) => {
      if (this._ws !== ws) return;
      this._ws = null;
      for (const { reject: r } of this._pending.values()) r(new EdgebeamError("closed", "connection closed"));
      this._pending.clear();
      this.dispatchEvent(Object.assign(new Event("close"), { code: ev.code, reason: ev.reason }));
      if (this._closedByUser || NO_RECONNECT.has(ev.code)) {
        if (reject) reject(new EdgebeamError(`close_${ev.code}`, ev.reason || `closed with ${ev.code}`));
        return;
      }
      this._retry(welcomed ? null : reject, null);
    };
  }

  _retry(onGiveUp, error) {
    if (this._closedByUser) return onGiveUp && onGiveUp(error);
    const delay = jitter(Math.min(this.maxBackoff, this.minBackoff * 2 ** this._attempt++));
    this.dispatchEvent(Object.assign(new Event("reconnecting"), { delay }));
    setTimeout(() => this._open(null, null), delay);
  }

  _onMessage(msg) {
    switch (msg.type) {
      case "presence": {
        const key = peerKey(msg.peer);
        if (msg.event === "join") this.peers.set(key, msg.peer);
        else {
          this.peers.delete(key);
          const call = this._calls.get(key);
          if (call) call.close();
        }
        this.dispatchEvent(Object.assign(new Event("presence"), { event: msg.event, peer: msg.peer }));
        break;
      }
      case "signal":
        if (msg.data && msg.data.kind === RTC_KIND) this._rtcSignal(msg.from, msg.data);
        else this.dispatchEvent(Object.assign(new Event("signal"), { from: msg.from, data: msg.data }));
        break;
      case "ack":
      case "error": {
        const waiter = msg.id != null && this._pending.get(msg.id);
        if (waiter) {
          this._pending.delete(msg.id);
          if (msg.type === "ack") waiter.resolve();
          else waiter.reject(new EdgebeamError(msg.code, msg.message));
        } else if (msg.type === "error") {
          this.dispatchEvent(Object.assign(new Event("error"), { error: new EdgebeamError(msg.code, msg.message) }));
        }
        break;
      }
      case "expiring":
        this.dispatchEvent(new Event("expiring"));
        this._refresh();
        break;
      case "refreshed":
        this.expiresAt = msg.expires_at;
        this.iceServers = msg.ice_servers;
        for (const call of this._calls.values()) call._updateIceServers(msg.ice_servers);
        break;
      default:
        break;
    }
  }

  async _refresh() {
    try {
      const token = await this.getToken();
      if (this._ws) this._ws.send(JSON.stringify({ type: "refresh", token }));
    } catch (error) {
      this.dispatchEvent(Object.assign(new Event("error"), { error }));
    }
  }

  /** Sends app data to a peer; resolves when the hub handed it over. */
  send(to, data) {
    const ws = this._ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new EdgebeamError("closed", "not connected"));
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ type: "signal", to: { gid: to.gid, pid: to.pid }, data, id }));
    });
  }

  _rtcConfiguration() {
    return {
      ...this.rtcConfig,
      iceServers: this.iceServers,
      iceTransportPolicy: this.forceRelay ? "relay" : this.rtcConfig.iceTransportPolicy || "all",
    };
  }

  _callFor(peer) {
    const key = peerKey(peer);
    let call = this._calls.get(key);
    if (!call) {
      // Exactly one side of a pair is polite: the one whose address sorts first.
      const polite = peerKey(this.self) < key;
      call = new Call(this, peer, polite, this._rtcConfiguration());
      this._calls.set(key, call);
    }
    return call;
  }

  /** Starts a call; with { dataChannel: "label" } a data channel is opened at once. */
  call(peer, { dataChannel, stream } = {}) {
    const call = this._callFor(peer);
    if (stream) call.addStream(stream);
    if (dataChannel) call.createDataChannel(dataChannel);
    return call;
  }

  _rtcSignal(from, data) {
    const key = peerKey(from);
    const isNew = !this._calls.has(key);
    if (isNew && !(data.description && data.description.type === "offer")) return;
    const call = this._callFor(from);
    if (isNew) this.dispatchEvent(Object.assign(new Event("call"), { call }));
    call._onSignal(data);
  }

  close() {
    this._closedByUser = true;
    for (const call of [...this._calls.values()]) call.close();
    if (this._ws) this._ws.close(1000, "bye");
  }
}
