import type { AuthFrame, Capability } from '@hubbub/protocol';

/** Who a connection or request is, once its credentials were checked. */
export interface Identity {
  /** Tenant: apps never see each other's channels. */
  app: string;
  clientId: string;
  /** Absent: every operation on every channel of the app. */
  capability?: Capability;
  /** Unix ms. */
  expiresAt?: number;
}

/** Checks the credentials of an `auth` frame; throws a HubbubError (40101, 40102) when they fail. */
export type Authenticate = (frame: AuthFrame) => Promise<Identity>;
