import type { Transform } from 'node:stream';
import { TextDecoder } from 'node:util';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { SluiceError, errorMessage } from '@sluice/core';
import { charset, header, type IngestRequest } from './request';

/** How a body may be read: its largest decoded size, and an allowance its bytes as sent are taken from. */
export interface BodyLimits {
  /** Largest body, counted after gzip, deflate or br is undone. */
  limit: number;
  /** Takes the body's bytes (as sent) from an allowance, or says why not; `size` describes them for the message. */
  take?: (bytes: number, size: string) => SluiceError | undefined;
  /** Whether only UTF charsets are taken (a JSON body), or any the platform decodes (text). */
  utfOnly: boolean;
}

function tooLarge(bytes: string, limit: number): SluiceError {
  return new SluiceError('PAYLOAD_TOO_LARGE', `The body is larger than the limit: ${bytes}; the limit is ${limit} bytes`);
}

const decoders: Record<string, () => Transform> = { gzip: createGunzip, deflate: createInflate, br: createBrotliDecompress };

function decoderOf(encoding: string): (() => Transform) | undefined {
  if (encoding === 'identity') return undefined;
  const decoder = decoders[encoding];
  if (decoder === undefined) throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `unsupported content encoding "${encoding}"`);
  return decoder;
}

/** Built only when thrown: an error captures a stack trace, which costs more than the rest of reading a small body. */
function unsupportedCharset(name: string): SluiceError {
  return new SluiceError('UNSUPPORTED_MEDIA_TYPE', `unsupported charset "${name.toUpperCase()}"`);
}

function textDecoder(request: Pick<IngestRequest, 'headers'>, utfOnly: boolean): TextDecoder {
  const name = charset(request) ?? 'utf-8';
  if (utfOnly && !name.startsWith('utf-')) throw unsupportedCharset(name);
  try {
    return new TextDecoder(name);
  } catch {
    throw unsupportedCharset(name);
  }
}

/**
 * Reads a body as text within its limits. A body sent as is is checked by its Content-Length
 * before any of it is read, and every body chunk by chunk as it streams in (decoded size, and the
 * allowance), so reading stops at the first byte too many instead of after the whole body: the
 * reply to a refusal then closes the connection (sendReply). The request stream is never
 * destroyed here, so that reply can still be written.
 */
export async function readBodyText(request: IngestRequest, limits: BodyLimits): Promise<string> {
  const encoding = (header(request, 'Content-Encoding') ?? 'identity').toLowerCase();
  const asIs = encoding.trim() === '' || encoding.trim() === 'identity';
  const declared = header(request, 'Content-Length');
  if (declared !== undefined) {
    if (asIs && Number(declared) > limits.limit) throw tooLarge(`${declared} bytes`, limits.limit);
    const refusal = limits.take?.(Number(declared), `${declared} bytes`);
    if (refusal !== undefined) throw refusal;
  }
  const decoder = asIs ? undefined : decoderOf(encoding)?.();
  const text = textDecoder(request, limits.utfOnly);
  const bytes = await collect(request, decoder, limits, declared === undefined);
  return text.decode(bytes);
}

function collect(request: IngestRequest, decoder: Transform | undefined, limits: BodyLimits, takeAsItStreams: boolean): Promise<Buffer> {
  const { body } = request;
  const expectedLength = decoder === undefined && request.headers['content-length'] !== undefined ? Number(request.headers['content-length']) : undefined;
  return new Promise<Buffer>((resolve, reject) => {
    const decoded: Buffer[] = [];
    let decodedBytes = 0;
    let sentBytes = 0;
    let settled = false;
    let sentEnded = false;
    const stop = (): void => {
      body.off('data', onSent);
      body.off('end', onSentEnd);
      body.off('error', onAborted);
      body.off('close', onClosed);
      body.pause();
      decoder?.destroy();
    };
    const fail = (error: SluiceError): void => {
      if (settled) return;
      settled = true;
      stop();
      reject(error);
    };
    const onDecoded = (chunk: Buffer): void => {
      decodedBytes += chunk.length;
      if (decodedBytes > limits.limit) return fail(tooLarge(decoder === undefined ? `${decodedBytes} bytes so far` : `${decodedBytes} bytes decoded so far`, limits.limit));
      decoded.push(chunk);
    };
    const finish = (): void => {
      if (settled) return;
      if (expectedLength !== undefined && decodedBytes !== expectedLength) return fail(new SluiceError('INVALID_JSON', 'The body is shorter or longer than its Content-Length'));
      settled = true;
      stop();
      resolve(Buffer.concat(decoded, decodedBytes));
    };
    function onSent(chunk: Buffer): void {
      sentBytes += chunk.length;
      if (takeAsItStreams) {
        const refusal = limits.take?.(chunk.length, `${sentBytes} bytes so far`);
        if (refusal !== undefined) return fail(refusal);
      }
      if (decoder === undefined) onDecoded(chunk);
      else decoder.write(chunk);
    }
    function onSentEnd(): void {
      sentEnded = true;
      if (decoder === undefined) finish();
      else decoder.end();
    }
    function onAborted(): void {
      fail(new SluiceError('INVALID_JSON', 'The request was aborted before its body was complete'));
    }
    function onClosed(): void {
      // A body that ends is followed by its close; one that closes first never ended.
      if (!sentEnded) onAborted();
    }
    if (decoder !== undefined) {
      decoder.on('data', onDecoded);
      decoder.on('end', finish);
      // A body that fails to decompress is the client's fault: 400, not 500.
      decoder.on('error', (error: Error) => fail(new SluiceError('INVALID_JSON', `The body could not be decoded: ${errorMessage(error)}`)));
    }
    body.on('data', onSent);
    body.on('end', onSentEnd);
    body.on('error', onAborted);
    body.on('close', onClosed);
    body.resume();
  });
}
