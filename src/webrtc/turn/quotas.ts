/**
 * Allocation quotas (RFC 8656 §7.2: 486 Allocation Quota Reached): per identity (the user part of
 * a time-limited username, or a static user), in total, and for anonymous identities a smaller
 * per-identity quota plus one shared pool, so anonymous users cannot take every allocation
 * (issue 11 D1). Pure counting; the processor takes a slot before it binds a relay (so a flood of
 * concurrent Allocates cannot overshoot) and releases it when the allocation or the bind ends.
 */
export interface QuotaOptions {
  userQuota: number;
  totalQuota: number;
  anonymousUserQuota: number;
  anonymousTotalQuota: number;
}

export class AllocationQuotas {
  private readonly perUser = new Map<string, number>();
  private total = 0;
  private anonymousTotal = 0;

  constructor(private readonly opts: QuotaOptions) {}

  /** Takes a slot for `user`; false (nothing taken) when a quota is reached. 0 means unlimited. */
  take(user: string, anonymous: boolean): boolean {
    const used = this.perUser.get(user) ?? 0;
    const userQuota = anonymous ? this.opts.anonymousUserQuota : this.opts.userQuota;
    if (userQuota > 0 && used >= userQuota) return false;
    if (this.opts.totalQuota > 0 && this.total >= this.opts.totalQuota) return false;
    if (anonymous && this.opts.anonymousTotalQuota > 0 && this.anonymousTotal >= this.opts.anonymousTotalQuota) return false;
    this.perUser.set(user, used + 1);
    this.total++;
    if (anonymous) this.anonymousTotal++;
    return true;
  }

  /** Gives back a slot taken by {@link take} with the same arguments. */
  release(user: string, anonymous: boolean): void {
    const n = (this.perUser.get(user) ?? 1) - 1;
    if (n <= 0) this.perUser.delete(user);
    else this.perUser.set(user, n);
    this.total--;
    if (anonymous) this.anonymousTotal--;
  }
}
