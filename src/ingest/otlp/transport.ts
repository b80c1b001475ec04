import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { AppError } from '../../errors.ts';

/**
 * OTLP/HTTP transport rules: which bodies we take and how they are unwrapped. Limits apply to
 * the bytes on the wire (the app's body limit) and again to the inflated body here, so a small
 * gzip bomb cannot inflate into gigabytes.
 */

export type OtlpEncoding = 'protobuf' | 'json';

const gunzipAsync = promisify(gunzip);

export function encodingOf(contentType: string | undefined): OtlpEncoding {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType === 'application/x-protobuf') return 'protobuf';
  if (mediaType === 'application/json') return 'json';
  throw new AppError('unsupported_media_type', `Content-Type must be application/x-protobuf or application/json, got ${JSON.stringify(contentType ?? '')}`, {
    code: 'unsupported_media_type',
  });
}

export async function inflate(body: Uint8Array, contentEncoding: string | undefined, maxBytes: number): Promise<Buffer> {
  const encoding = (contentEncoding ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return Buffer.from(body);
  if (encoding !== 'gzip') {
    throw new AppError('unsupported_media_type', `Content-Encoding ${JSON.stringify(contentEncoding)} is not supported (gzip or none)`, {
      code: 'unsupported_encoding',
    });
  }
  try {
    return await gunzipAsync(body, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new AppError('payload_too_large', `request body exceeds ${maxBytes} bytes once decompressed`, { code: 'payload_too_large' });
    }
    throw new AppError('invalid', `body is not valid gzip: ${(err as Error).message}`, { code: 'invalid_gzip' });
  }
}
