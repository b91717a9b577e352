import { describe, expect, it } from 'vitest';
import { ErrorCode, HubbubError, isHubbubError, statusCodeFor } from '../src/errors.js';

describe('statusCodeFor', () => {
  it.each([
    [40001, 400],
    [40101, 401],
    [40102, 401],
    [40300, 403],
    [40301, 403],
    [40400, 404],
    [42900, 429],
    [50000, 500],
    [50001, 500],
    [50300, 503],
  ])('%i → %i', (code, status) => {
    expect(statusCodeFor(code)).toBe(status);
  });

  it('anything outside 4xx/5xx maps to 500', () => {
    expect(statusCodeFor(0)).toBe(500);
    expect(statusCodeFor(20000)).toBe(500);
    expect(statusCodeFor(60000)).toBe(500);
  });
});

describe('ErrorCode table', () => {
  it('has the Foony codes', () => {
    expect(ErrorCode).toMatchObject({
      BadFrame: 40001,
      BadAuth: 40101,
      AuthExpired: 40102,
      Forbidden: 40300,
      Capability: 40301,
      ChannelDenied: 40302,
      NotFound: 40400,
      RateLimited: 42900,
      Server: 50000,
      Bootstrap: 50001,
    });
  });
});

describe('HubbubError', () => {
  it('carries code, derived status, message and name', () => {
    const err = new HubbubError(ErrorCode.AuthExpired, 'token expired');
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(40102);
    expect(err.statusCode).toBe(401);
    expect(err.message).toBe('token expired');
    expect(err.name).toBe('HubbubError');
    expect(isHubbubError(err)).toBe(true);
  });

  it('accepts an explicit status code', () => {
    expect(new HubbubError(ErrorCode.RateLimited, 'slow down', 503).statusCode).toBe(503);
    expect(new HubbubError(ErrorCode.RateLimited, 'slow down').statusCode).toBe(429);
  });

  it('toJSON gives code, statusCode and message', () => {
    const err = new HubbubError(ErrorCode.Bootstrap, 'redis unreachable');
    expect(err.toJSON()).toEqual({ code: 50001, statusCode: 500, message: 'redis unreachable' });
    expect(JSON.parse(JSON.stringify(err))).toEqual({ code: 50001, statusCode: 500, message: 'redis unreachable' });
  });

  it('isHubbubError is false for other errors', () => {
    expect(isHubbubError(new Error('x'))).toBe(false);
    expect(isHubbubError({ code: 40001, message: 'x' })).toBe(false);
    expect(isHubbubError(undefined)).toBe(false);
  });
});
