import { unauthenticated, forbidden } from '../errors/app-error';
import type { MemberRole } from './member-role';
import { abilityForMembership, Action, AppAbility, Membership, scoped, SubjectType } from './ability.factory';
import type { Principal } from './principal';

/** Where the caller's memberships come from: all of them (for `viewer`), or the one in a workspace. */
export interface MembershipSource {
  all(userId: string): Promise<Membership[]>;
  /** `fresh`: from the database, never from a cache (for writes) */
  in(workspaceId: string, fresh: boolean): Promise<Membership | null>;
}

/**
 * The caller of one request and what it may do. A check on a workspace builds the ability from the
 * caller's membership in that workspace only (one lookup, shared with the workspace's own row);
 * each ability is built once per request.
 */
export class AuthContext {
  private readonly abilities = new Map<string, Promise<AppAbility>>();
  private membershipsPromise?: Promise<Membership[]>;

  constructor(
    readonly principal: Principal,
    private readonly source: MembershipSource,
  ) {}

  get userId(): string | undefined {
    return this.principal.kind === 'user' ? this.principal.userId : undefined;
  }

  get isPlatformAdmin(): boolean {
    return this.principal.kind === 'user' && this.principal.platformAdmin;
  }

  memberships(): Promise<Membership[]> {
    this.membershipsPromise ??= this.principal.kind === 'user' ? this.source.all(this.principal.userId) : Promise.resolve([]);
    return this.membershipsPromise;
  }

  private abilityFor(workspaceId: string | undefined, fresh: boolean): Promise<AppAbility> {
    const cacheKey = `${fresh ? 'fresh' : 'read'}:${workspaceId ?? ''}`;
    let ability = this.abilities.get(cacheKey);
    if (!ability) {
      const membership = this.principal.kind === 'user' && workspaceId ? this.source.in(workspaceId, fresh) : Promise.resolve(null);
      ability = membership.then((found) => abilityForMembership(this.principal, found));
      this.abilities.set(cacheKey, ability);
    }
    return ability;
  }

  /**
   * Reads may be answered from the worker's cached memberships; any other action checks fresh
   * ones, unless the caller only wants to show what is allowed (`fresh: false`).
   */
  async can(action: Action, type: SubjectType, workspaceId?: string, options: { fresh?: boolean } = {}): Promise<boolean> {
    const fresh = options.fresh ?? action !== 'read';
    return (await this.abilityFor(workspaceId, fresh)).can(action, scoped(type, workspaceId));
  }

  /**
   * The guard's check. A workspace the caller may not reach answers FORBIDDEN whether or not it
   * exists, so ids cannot be probed; a caller with no valid credential is told to authenticate.
   */
  async authorize(action: Action, type: SubjectType, workspaceId?: string): Promise<void> {
    if (this.principal.kind === 'invalid') throw unauthenticated('Invalid or expired credentials');
    if (await this.can(action, type, workspaceId)) return;
    if (this.principal.kind === 'anonymous') throw unauthenticated();
    throw forbidden();
  }

  /**
   * The check of a change that depends on rows its own transaction reads: the role involved, and
   * the caller's membership as read there, under the workspace's lock. A caller demoted or removed
   * by a change that committed first is judged on what they are now, not on what the guard saw.
   */
  authorizeAs(membership: Membership | null, action: Action, type: SubjectType, workspaceId: string, role?: MemberRole): void {
    if (!abilityForMembership(this.principal, membership).can(action, scoped(type, workspaceId, role))) throw forbidden();
  }
}
