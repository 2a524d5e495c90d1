import { SluiceError } from '@sluice/core';
import { answerHeaders, preflightAnswer } from '../cors';
import { dialectEndpoints } from '../dialects';
import { codedRefusal, toSluiceError, type Reply } from '../http-errors';
import { batchDoor } from './batch';
import { beaconDoor } from './beacon';
import type { Door, IngestDeps } from './door';
import { singleEventDoor } from './single-event';
import { header, pathOf, type IngestRequest } from './request';

/** Every ingestion door the core serves: the four dialects', the batch door and the beacon door. */
export const ingestionDoors: readonly Door[] = [...dialectEndpoints.map((endpoint) => singleEventDoor(endpoint)), batchDoor, beaconDoor];

/** Routing as express routed these paths: case does not matter, nor one trailing slash. */
function routingKey(path: string): string {
  const lower = path.toLowerCase();
  return lower.length > 1 && lower.endsWith('/') ? lower.slice(0, -1) : lower;
}

const doorsByPath = new Map<string, Door>(ingestionDoors.map((door) => [routingKey(door.route.path), door]));

/** The door a request path leads to, if it is an ingestion path. */
export function doorFor(path: string): Door | undefined {
  return doorsByPath.get(routingKey(path));
}

/**
 * CORS first: a preflight is answered here, and every other answer of the door carries the
 * headers granting the page access, refusals included, so the page can read why.
 */
function corsStep(door: Door, request: IngestRequest, deps: IngestDeps): { answered: Reply } | { headers: Record<string, string> } {
  const isAllowedOrigin = (origin: string): boolean => deps.keyStore.isAllowedOrigin(origin);
  const origin = header(request, 'Origin');
  const asked = header(request, 'Access-Control-Request-Method');
  if (request.method !== 'OPTIONS' || origin === undefined || asked === undefined) {
    const headers = answerHeaders(origin, isAllowedOrigin);
    // An OPTIONS that is no preflight asks what the door takes.
    if (request.method === 'OPTIONS') return { answered: { status: 204, headers: { ...headers, Allow: `${door.route.method}, OPTIONS` } } };
    return { headers };
  }
  const answer = preflightAnswer(door.route, { origin, method: asked, headers: header(request, 'Access-Control-Request-Headers') }, isAllowedOrigin);
  const reply = answer.ok ? { status: 204, headers: {} } : door.refused(answer.refusal);
  return { answered: withHeaders(reply, answer.headers) };
}

function withHeaders(reply: Reply, headers: Record<string, string>): Reply {
  return { ...reply, headers: { ...headers, ...reply.headers } };
}

/**
 * The ingest core: a request to an ingestion door in, its reply out, with no HTTP framework in
 * between. Authentication, rate limits, reading the body within its limits, validation,
 * authorisation, normalisation and publishing are the door's steps, once admission has found
 * room for the request; every refusal is a SluiceError answered in the door's own shape. Resolves
 * to undefined for a path that is no ingestion door (another handler answers it), without
 * touching the body.
 */
export async function ingest(request: IngestRequest, deps: IngestDeps): Promise<Reply | undefined> {
  const door = doorFor(pathOf(request));
  return door === undefined ? undefined : ingestAt(door, request, deps);
}

/** The ingest core for a request whose door the caller has found already (doorFor), as the HTTP listener has. */
export async function ingestAt(door: Door, request: IngestRequest, deps: IngestDeps): Promise<Reply> {
  const cors = corsStep(door, request, deps);
  if ('answered' in cors) return cors.answered;
  if (request.method !== door.route.method) {
    return withHeaders(codedRefusal(new SluiceError('NOT_FOUND', `No route for ${request.method} ${pathOf(request)}`)), cors.headers);
  }
  // Shed before any work on the request: its body stays unread (sendReply closes the connection if any of it is still to come).
  const overloaded = deps.admission.enter();
  if (overloaded !== undefined) {
    deps.metrics.seriesOf(door.dialect).shed.add();
    // sendReply pauses the connection only when it stays open and the pause is over 0.
    return { ...withHeaders(door.refused(overloaded), cors.headers), pauseReadingMs: deps.overloadPauseMs };
  }
  try {
    return withHeaders(await door.serve(request, deps), cors.headers);
  } catch (error) {
    const refusal = toSluiceError(error, deps.logger);
    deps.metrics.seriesOf(door.dialect).rejected(refusal.code).add();
    return withHeaders(door.refused(refusal), cors.headers);
  } finally {
    deps.admission.leave();
  }
}
