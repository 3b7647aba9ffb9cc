/**
 * The tag-version listeners of a bus (what `createTags` attaches): told the versions other instances
 * announce, and whether the subscription is up. A listener that throws is reported and the others are told.
 */
import type { TagVersionListener, TagVersionsMessage } from '../types.js'

/** The listeners of one bus. */
export class TagListeners {
  private readonly listeners = new Set<TagVersionListener>()
  private readonly onError: (error: unknown) => void

  constructor(onError: (error: unknown) => void) {
    this.onError = onError
  }

  /** Adds one, telling it at once whether the subscription is up; returns its detach. */
  attach(listener: TagVersionListener, up: boolean): () => void {
    this.listeners.add(listener)
    listener.subscription(up)
    return () => {
      this.listeners.delete(listener)
    }
  }

  /** The subscription is up (again) or lost. */
  subscription(up: boolean): void {
    for (const l of this.listeners) {
      try {
        l.subscription(up)
      } catch (e) {
        this.onError(e)
      }
    }
  }

  /** Another instance invalidated `tags`. */
  tagVersions(tags: readonly string[], versions: TagVersionsMessage | undefined): void {
    for (const l of this.listeners) {
      try {
        l.tagVersions(tags, versions)
      } catch (e) {
        this.onError(e)
      }
    }
  }

  /** Tells them all the subscription is gone, and forgets them (the bus is closed). */
  close(): void {
    this.subscription(false)
    this.listeners.clear()
  }
}
