import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity({ name: 'api_keys' })
export class ApiKeyEntity {
  @PrimaryColumn({ type: 'varchar' }) id: string;
  /** SHA-256 of the whole token; the token itself is never stored. */
  @Column({ type: 'varchar' }) token_hash: string;
  @Column({ type: 'varchar' }) token_hint: string;
  @Column({ type: 'varchar', nullable: true }) name: string | null;
  @Column({ type: 'varchar' }) kind: 'user' | 'app';
  @Column({ type: 'varchar', nullable: true }) user_id: string | null;
  @Column({ type: 'varchar' }) organisation_id: string;
  @Column({ type: 'simple-json' }) workspace_ids: string[];
  @Column({ type: 'simple-json' }) scopes: string[];
  @Column({ type: 'boolean' }) operator: boolean;
  /** Who created the key: the creating key's id, `jwt:<sub or org>`, or `operator` (bootstrap, command line). */
  @Column({ type: 'varchar', nullable: true }) created_by: string | null;
  @Column({ type: 'varchar' }) created_at: string;
  /** ISO-8601 UTC; from then on the key is refused. Null: the key does not expire. */
  @Column({ type: 'varchar', nullable: true }) expires_at: string | null;
  @Column({ type: 'varchar', nullable: true }) revoked_at: string | null;
}
