import type { Readable, Transform } from 'node:stream';
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
  const expectedLength = decoder === undefined && request.headers['content-length'] !== undefined ? Number(request.headers['content-length']) : undefined;
  return new Promise<Buffer>((resolve, reject) => new BodyCollector(request.body, decoder, limits, takeAsItStreams, expectedLength, resolve, reject).start());
}

/**
 * One body being read. A class, so that its listeners are made by bind, not as named closures: the
 * dev runner (tsx) names every closure it makes, once per request each.
 */
class BodyCollector {
  private readonly decoded: Buffer[] = [];
  private decodedBytes = 0;
  private sentBytes = 0;
  private settled = false;
  private sentEnded = false;
  private readonly onSent = this.sent.bind(this);
  private readonly onSentEnd = this.sentEnd.bind(this);
  private readonly onAborted = this.aborted.bind(this);
  private readonly onClosed = this.closed.bind(this);
  private readonly onDecoded = this.decodedChunk.bind(this);

  constructor(
    private readonly body: Readable,
    private readonly decoder: Transform | undefined,
    private readonly limits: BodyLimits,
    private readonly takeAsItStreams: boolean,
    private readonly expectedLength: number | undefined,
    private readonly resolve: (body: Buffer) => void,
    private readonly reject: (error: SluiceError) => void,
  ) {}

  start(): void {
    const { body, decoder } = this;
    if (decoder !== undefined) {
      decoder.on('data', this.onDecoded);
      decoder.on('end', this.finish.bind(this));
      // A body that fails to decompress is the client's fault: 400, not 500.
      decoder.on('error', (error: Error) => this.fail(new SluiceError('INVALID_JSON', `The body could not be decoded: ${errorMessage(error)}`)));
    }
    body.on('data', this.onSent);
    body.on('end', this.onSentEnd);
    body.on('error', this.onAborted);
    body.on('close', this.onClosed);
    body.resume();
  }

  private stop(): void {
    const { body } = this;
    body.off('data', this.onSent);
    body.off('end', this.onSentEnd);
    body.off('error', this.onAborted);
    body.off('close', this.onClosed);
    body.pause();
    this.decoder?.destroy();
  }

  private fail(error: SluiceError): void {
    if (this.settled) return;
    this.settled = true;
    this.stop();
    this.reject(error);
  }

  private decodedChunk(chunk: Buffer): void {
    this.decodedBytes += chunk.length;
    if (this.decodedBytes > this.limits.limit) {
      return this.fail(tooLarge(this.decoder === undefined ? `${this.decodedBytes} bytes so far` : `${this.decodedBytes} bytes decoded so far`, this.limits.limit));
    }
    this.decoded.push(chunk);
  }

  private finish(): void {
    if (this.settled) return;
    if (this.expectedLength !== undefined && this.decodedBytes !== this.expectedLength) return this.fail(new SluiceError('INVALID_JSON', 'The body is shorter or longer than its Content-Length'));
    this.settled = true;
    this.stop();
    this.resolve(Buffer.concat(this.decoded, this.decodedBytes));
  }

  private sent(chunk: Buffer): void {
    this.sentBytes += chunk.length;
    if (this.takeAsItStreams) {
      const refusal = this.limits.take?.(chunk.length, `${this.sentBytes} bytes so far`);
      if (refusal !== undefined) return this.fail(refusal);
    }
    if (this.decoder === undefined) this.decodedChunk(chunk);
    else this.decoder.write(chunk);
  }

  private sentEnd(): void {
    this.sentEnded = true;
    if (this.decoder === undefined) this.finish();
    else this.decoder.end();
  }

  private aborted(): void {
    this.fail(new SluiceError('INVALID_JSON', 'The request was aborted before its body was complete'));
  }

  private closed(): void {
    // A body that ends is followed by its close; one that closes first never ended.
    if (!this.sentEnded) this.aborted();
  }
}
