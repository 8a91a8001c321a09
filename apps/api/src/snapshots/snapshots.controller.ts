import type { ServerResponse } from 'node:http';

import { Body, Controller, HttpCode, Param, Post, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiResponse, ApiTags } from '@nestjs/swagger';

import { ApiErrors, ApiReturns, ApiZodBody } from '../common/openapi';
import { ZodBody } from '../common/zod-body.pipe';
import { type BrowseSnapshot, browseSnapshotSchema } from './snapshot.schemas';
import { SnapshotsService } from './snapshots.service';
import type { SnapshotTreeView } from '@vaultline/contracts';

const ERRORS = {
  VALIDATION_FAILED:
    'invalid field (named in `fields`), or a path that is not a folder (tree) / file or folder (download)',
  WRONG_PASSWORD:
    'the password does not open the repository (`fields: [{ path: "password" }]`), as for a restore',
  NOT_FOUND: 'no such snapshot on the target in the catalog or in the repository, or no such path in it',
  UNAVAILABLE: 'the target is unreachable',
} as const;

/**
 * The snapshot browser of the web UI: a snapshot's folders and its files, read with the owner's
 * password (POST, so the password is in the body, never in a URL). `:id` is the snapshot id of
 * GET /v1/plans/:id/snapshots; `targetId` says which copy.
 */
@ApiTags('snapshots')
@ApiBearerAuth()
@Controller('v1/snapshots')
export class SnapshotsController {
  constructor(private readonly snapshots: SnapshotsService) {}

  @Post(':id/tree')
  @ApiReturns(200, 'SnapshotTreeView', "the folder's entries")
  @ApiZodBody('BrowseSnapshot', browseSnapshotSchema)
  @ApiErrors(ERRORS)
  tree(
    @Param('id') id: string,
    @Body(new ZodBody(browseSnapshotSchema)) body: BrowseSnapshot,
  ): Promise<SnapshotTreeView> {
    return this.snapshots.tree(id, body);
  }

  /** Streams the file, or the folder as a tar; nothing is written on the server's disks. */
  @Post(':id/download')
  @HttpCode(200)
  @ApiZodBody('BrowseSnapshot', browseSnapshotSchema)
  @ApiResponse({
    status: 200,
    description:
      'a file as `application/octet-stream` (Content-Length, Content-Disposition attachment with its name), ' +
      'or a folder as `application/x-tar` of it and everything below (pax; FIFOs, sockets and devices left out)',
    content: {
      'application/octet-stream': { schema: { type: 'string', format: 'binary' } },
      'application/x-tar': { schema: { type: 'string', format: 'binary' } },
    },
  })
  @ApiErrors(ERRORS)
  download(
    @Param('id') id: string,
    @Body(new ZodBody(browseSnapshotSchema)) body: BrowseSnapshot,
    @Res() res: ServerResponse,
  ): Promise<void> {
    return this.snapshots.download(id, body, res);
  }
}
