/**
 * The files one training run reads and writes, checked against each other by what they are on disk
 * (device and inode, through symlinks), not by how they are named, so that no output lands on an input
 * or on another output by another name: a symlink, a hard link, `./x` for `x`, a directory link.
 */
import { lstatSync, readlinkSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { CharrnnError, EXIT } from '../errors.js';
import { bestPath } from './io.js';

export interface RunFiles {
  /** The corpus read ('-' or null for stdin: nothing to protect). */
  corpus?: string | null;
  /** The checkpoint a fine-tuning run starts from (train --init-from). */
  initFrom?: string;
  /** The checkpoint a resumed run continues; the run may save back over it, as resume does by default. */
  resumes?: string;
  /** Where the run saves its checkpoint; its best copy goes beside it (bestPath). */
  checkpoint: string;
  /** Where the caller appends the run's events (the CLI's --log). */
  log?: string;
}

type Role = 'corpus' | 'initFrom' | 'initFromBest' | 'resumes' | 'resumesBest' | 'checkpoint' | 'best' | 'log';

/** What a file is to the run, in words: the thing, then what follows its path in a message. */
const ROLE_WORDS: Record<Role, [string, string]> = {
  corpus: ['the corpus', ', which it would destroy'],
  initFrom: ['the checkpoint the run starts from', ''],
  initFromBest: ['the best checkpoint of the run it starts from', ''],
  resumes: ['the checkpoint the run resumes from', ''],
  resumesBest: ['the best checkpoint of the run it resumes', ''],
  checkpoint: ['where the run saves its checkpoint', ''],
  best: ['where the run saves its best checkpoint', ''],
  log: ['where the run writes its log', ''],
};

/** How a message starts for a file the run writes. */
const WRITE_ACTIONS: Partial<Record<Role, string>> = {
  checkpoint: 'save',
  best: 'save the best checkpoint to',
  log: 'write the log to',
};

interface RunFile {
  role: Role;
  path: string;
}

/** Symlinks followed before giving up, as the kernel's own limit (ELOOP). */
const MAX_LINKS = 40;

/**
 * What `path` is on disk: `dev:ino` of the file it names, through symlinks; for a file that does not exist
 * yet, what it will be: its nearest existing ancestor's identity and the names below it (a symlink to a
 * missing file counts as its target). Undefined where it cannot be told (a parent that is a file, no
 * permission, a deleted working directory): the checks of each output's kind report those.
 */
export function fileIdentity(path: string, links = 0): string | undefined {
  try {
    const stats = statSync(path, { throwIfNoEntry: false });
    if (stats) return `${stats.dev}:${stats.ino}`;
    if (lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink()) {
      return links < MAX_LINKS ? fileIdentity(resolve(dirname(path), readlinkSync(path)), links + 1) : undefined;
    }
    const absolute = resolve(path);
    const parent = dirname(absolute);
    if (parent === absolute) return undefined;
    const parentIdentity = fileIdentity(parent, links);
    return parentIdentity && `${parentIdentity}/${basename(absolute)}`;
  } catch {
    return undefined;
  }
}

/**
 * The files a run reads, with the best copies beside the checkpoints it starts from (kept, though not
 * read), and those it writes.
 */
function filesOf(files: RunFiles): { reads: RunFile[]; writes: RunFile[] } {
  const named = (role: Role, path: string | null | undefined): RunFile[] =>
    path === undefined || path === null || path === '-' ? [] : [{ role, path }];
  const withBest = (role: Role, bestRole: Role, path: string | undefined): RunFile[] =>
    path === undefined || path === '-' ? [] : [...named(role, path), ...named(bestRole, bestPath(path))];
  return {
    reads: [
      ...named('corpus', files.corpus),
      ...withBest('initFrom', 'initFromBest', files.initFrom),
      ...withBest('resumes', 'resumesBest', files.resumes),
    ],
    writes: [
      ...named('checkpoint', files.checkpoint),
      ...named('best', bestPath(files.checkpoint)),
      ...named('log', files.log),
    ],
  };
}

function exists(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch {
    return false;
  }
}

/** Resume's purpose: saving the run back over the checkpoint it continues, and its best copy over the best. */
const allowed = (written: RunFile, other: RunFile) =>
  (written.role === 'checkpoint' && other.role === 'resumes') ||
  (written.role === 'best' && other.role === 'resumesBest');

/**
 * Refuses a run whose writes would land on a file it reads or on another of its writes, by any name:
 * one line naming both roles, exit 2. Touches nothing; call it before reading at length or writing.
 * A file that is read but does not exist is no clash (its own read reports it).
 */
export function checkRunFiles(files: RunFiles): void {
  const { reads, writes } = filesOf(files);
  const identities = new Map<RunFile, string | undefined>();
  const identity = (file: RunFile) => {
    if (!identities.has(file)) identities.set(file, fileIdentity(file.path));
    return identities.get(file);
  };
  const existingReads = reads.filter((file) => exists(file.path));
  writes.forEach((written, index) => {
    const writtenIdentity = identity(written);
    if (writtenIdentity === undefined) return;
    // An earlier write first: the log's message names the checkpoint, as it always has.
    for (const other of [...writes.slice(0, index), ...existingReads]) {
      if (!allowed(written, other) && identity(other) === writtenIdentity) throw clash(written, other);
    }
  });
}

function clash(written: RunFile, other: RunFile): CharrnnError {
  const [thing, after] = ROLE_WORDS[other.role];
  const where = other.path === written.path ? '' : ` (${other.path})`;
  return new CharrnnError(
    `cannot ${WRITE_ACTIONS[written.role]} ${written.path}: it is ${thing}${where}${after}; choose another path`,
    EXIT.usage,
  );
}
