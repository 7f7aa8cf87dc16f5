/** Names of the files a checkpoint keeps beside it (temporary files, its lock), short enough for any legal name. */
import { createHash } from 'node:crypto';

/** The longest file name Linux, macOS and Windows file systems allow, in bytes (NAME_MAX). */
const NAME_MAX = 255;

/** Bytes of hash that stand for the cut part of a shortened name. */
const HASH_CHARS = 8;

/**
 * `name` when it fits in `room` bytes; else its start, cut at a character boundary, then `~` and a hash
 * of the whole name, so that two long names sharing their start still get different companions, and
 * the same name always gets the same ones.
 */
function fitted(name: string, room: number): string {
  if (Buffer.byteLength(name) <= room) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, HASH_CHARS);
  const budget = room - HASH_CHARS - 1;
  let start = '';
  for (const char of name) {
    if (Buffer.byteLength(start + char) > budget) break;
    start += char;
  }
  return `${start}~${hash}`;
}

/**
 * A companion's name: `before` + the checkpoint's name + `after`, the name shortened (see fitted) when
 * the whole would pass NAME_MAX. `longestAfter` reserves room for the longest `after` this companion
 * takes (a pid varies in length), so the shortened part, which clean-ups match on, never varies.
 */
export function siblingName(name: string, before: string, after: string, longestAfter = after): string {
  const room =
    NAME_MAX - Buffer.byteLength(before) - Math.max(Buffer.byteLength(longestAfter), Buffer.byteLength(after));
  return `${before}${fitted(name, room)}${after}`;
}
