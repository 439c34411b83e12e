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
  @Column({ type: 'varchar', nullable: true }) created_by: string | null;
  @Column({ type: 'varchar' }) created_at: string;
  @Column({ type: 'varchar', nullable: true }) revoked_at: string | null;
}
