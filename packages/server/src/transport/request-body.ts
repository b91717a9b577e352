import type { IncomingMessage } from 'node:http';

/** The whole request body, unless it is over `max` (declared or actual) or the client went away. */
export function readRequestBody(req: IncomingMessage, max: number): Promise<Buffer | 'too-large' | 'aborted'> {
  if (Number(req.headers['content-length'] ?? 0) > max) return Promise.resolve('too-large');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.off('data', onData);
        resolve('too-large');
      } else chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', () => resolve('aborted'));
    // Resolving twice is a no-op: after 'end' this changes nothing; before it, the client left.
    req.on('close', () => resolve('aborted'));
  });
}
