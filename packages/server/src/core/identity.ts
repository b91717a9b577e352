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
  /**
   * The API key behind this identity (`app.keyId`): the key itself, a token it signed (`kid`), or a
   * token `POST /auth/token` minted with it. Revoking the key ends the sessions it stands behind.
   */
  keyName?: string;
}

/**
 * Checks the credentials of an `auth` frame; throws a HubbubError (40101, 40102) when they fail.
 * `address` is the client's, for the log line a refusal leaves.
 */
export type Authenticate = (frame: AuthFrame, address?: string) => Promise<Identity>;
