// Types for the edgebeam browser SDK (edgebeam.js).

export interface PeerAddr {
  gid: string;
  pid: string;
}

export interface Welcome {
  type: "welcome";
  self: PeerAddr;
  expires_at: number;
  ice_servers: RTCIceServer[];
  peers: PeerAddr[];
}

export interface EdgebeamOptions {
  /** wss://HOST:8443/v1/signal */
  url: string;
  /** Returns a fresh token from your backend; called at connect, reconnect and refresh. */
  getToken: () => string | Promise<string>;
  /** Relay every call through TURN (iceTransportPolicy "relay"). */
  forceRelay?: boolean;
  /** Extra RTCPeerConnection settings; iceServers come from the box. */
  rtcConfig?: RTCConfiguration;
  /** Reconnect backoff bounds in ms (jittered exponential). Defaults 500 and 30000. */
  minBackoff?: number;
  maxBackoff?: number;
}

export declare function peerKey(peer: PeerAddr): string;

export declare class EdgebeamError extends Error {
  /** peer_unavailable, bad_request, rate_limited, token_invalid, closed, or close_<code>. */
  code: string;
}

export declare class Call extends EventTarget {
  readonly peer: PeerAddr;
  readonly polite: boolean;
  readonly pc: RTCPeerConnection;
  readonly channels: Map<string, RTCDataChannel>;
  createDataChannel(label: string, options?: RTCDataChannelInit): RTCDataChannel;
  addStream(stream: MediaStream): void;
  close(): void;
  // Events: "datachannel" ({channel}), "track" ({track, streams}), "state" ({state}), "error" ({error}), "close".
}

export declare class Edgebeam extends EventTarget {
  constructor(options: EdgebeamOptions);
  readonly self: PeerAddr | null;
  readonly peers: Map<string, PeerAddr>;
  readonly iceServers: RTCIceServer[];
  readonly expiresAt: number;
  connect(): Promise<Welcome>;
  send(to: PeerAddr, data: unknown): Promise<void>;
  call(peer: PeerAddr, options?: { dataChannel?: string; stream?: MediaStream }): Call;
  close(): void;
  // Events: "welcome", "presence" ({event, peer}), "signal" ({from, data}), "call" ({call}),
  // "expiring", "reconnecting" ({delay}), "close" ({code, reason}), "error" ({error}).
}
