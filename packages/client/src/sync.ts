import { ErrorCode, HubbubError } from '@hubbub/protocol';

export interface SyncDocument<T = unknown> {
  name: string;
  data: T;
  revision: number;
  createdAt: number;
  updatedAt: number;
}

/** A write lost a race: someone else changed the document first. `currentRevision` is theirs. */
export class RevisionConflictError extends HubbubError {
  constructor(
    message: string,
    readonly currentRevision: number,
  ) {
    super(ErrorCode.Conflict, message, 409);
    this.name = 'RevisionConflictError';
  }
}

/** Documents with revisions, over the server's REST API. Changes arrive as events on `sync.<name>`. */
export class SyncClient {
  constructor(
    private readonly baseUrl: string,
    /** The token to send: a fixed one, or the connection's current one (renewed by its authCallback). */
    private readonly token: string | (() => Promise<string>),
  ) {}

  create<T>(name: string, data: T): Promise<SyncDocument<T>> {
    return this.call('POST', '/sync/documents', { name, data });
  }

  async get<T>(name: string): Promise<SyncDocument<T> | null> {
    try {
      return await this.call('GET', `/sync/documents/${encodeURIComponent(name)}`);
    } catch (err) {
      if (err instanceof HubbubError && err.code === ErrorCode.NotFound) return null;
      throw err;
    }
  }

  /** Fails with RevisionConflictError when `revision` is not the document's current one. */
  update<T>(name: string, data: T, { revision }: { revision: number }): Promise<SyncDocument<T>> {
    return this.call('PUT', `/sync/documents/${encodeURIComponent(name)}`, { data, revision });
  }

  delete(name: string, { revision }: { revision?: number } = {}): Promise<SyncDocument> {
    const q = revision === undefined ? '' : `?revision=${revision}`;
    return this.call('DELETE', `/sync/documents/${encodeURIComponent(name)}${q}`);
  }

  /** Every document (under `prefix`), following the server's pages; `limit` caps how many are returned. */
  async list({ prefix, limit = Infinity }: { prefix?: string; limit?: number } = {}): Promise<SyncDocument[]> {
    const out: SyncDocument[] = [];
    let cursor: string | undefined;
    do {
      const q = new URLSearchParams();
      if (prefix !== undefined) q.set('prefix', prefix);
      if (cursor !== undefined) q.set('cursor', cursor);
      const page = await this.call<{ documents: SyncDocument[]; next?: string }>('GET', `/sync/documents${q.size ? `?${q}` : ''}`);
      out.push(...page.documents);
      cursor = page.next;
    } while (cursor !== undefined && out.length < limit);
    return out.slice(0, limit);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const token = typeof this.token === 'string' ? this.token : await this.token();
    const res = await fetch(`${this.baseUrl.replace(/\/$/, '')}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await res.json().catch(() => ({}))) as { error?: { code: number; message: string; currentRevision?: number } };
    if (!res.ok) {
      const e = json.error ?? { code: ErrorCode.Server, message: `HTTP ${res.status}` };
      if (e.currentRevision !== undefined) throw new RevisionConflictError(e.message, e.currentRevision);
      throw new HubbubError(e.code, e.message, res.status);
    }
    return json as T;
  }
}
