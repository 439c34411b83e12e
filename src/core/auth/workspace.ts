import { BadRequestException, ForbiddenException } from '@nestjs/common';
import { Principal } from './principal';

export function selectWorkspace(principal: Principal, header: string | string[] | undefined): string {
  if (Array.isArray(header)) throw new BadRequestException('Send X-Workspace-Id once');
  const requested = header?.trim();
  if (requested) {
    if (!principal.workspace_ids.includes(requested)) {
      throw new ForbiddenException(`Workspace ${requested} is not one of this credential's workspaces`);
    }
    return requested;
  }
  const first = principal.workspace_ids[0];
  if (!first) throw new ForbiddenException('This credential has no workspace; workspace endpoints need one');
  return first;
}
