import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../context.js";
import { ApiError, notFound } from "../errors.js";
import { RunIdParams, UploadBody } from "../schemas.js";
import { requireRun } from "./runs.js";

const now = () => Date.now() / 1000;

/** Uploads: declare one on a run, PUT the bytes (streamed to disk, size-capped), read it back as a blob of that run. */
export async function uploadRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const blobDir = path.join(ctx.settings.dataDir, "blobs");
  const tmpDir = path.join(blobDir, "tmp");
  fs.mkdirSync(tmpDir, { recursive: true });

  app.post<{ Params: Static<typeof RunIdParams>; Body: Static<typeof UploadBody> }>(
    "/runs/:run_id/uploads",
    { schema: { tags: ["uploads"], summary: "Declare an upload for a run", params: RunIdParams, body: UploadBody } },
    async (req) => {
      const run = await requireRun(ctx, req.params.run_id);
      const id = randomUUID();
      const cap = ctx.settings.uploadMaxBytes;
      await ctx.store.insertBlob({
        blob_id: id,
        run_id: run.run_id,
        filename: req.body?.filename ?? null,
        mime: req.body?.mime ?? null,
        size: null,
        path: null,
        max_bytes: Math.min(req.body?.max_bytes ?? cap, cap),
        created_at: now(),
        completed_at: null,
      });
      return { upload_id: id, blob_id: id, upload_url: `/uploads/${id}`, blob_url: `/runs/${run.run_id}/blobs/${id}` };
    },
  );

  // The bytes are not parsed: whatever the content type, the handler gets the raw request stream.
  await app.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser("*", (_req, payload, done) => done(null, payload));
    raw.put<{ Params: { upload_id: string } }>(
      "/uploads/:upload_id",
      {
        schema: {
          tags: ["uploads"],
          summary: "Send an upload's bytes (streamed; 409 unless the run is running, 413 over the cap)",
          params: {
            type: "object",
            properties: { upload_id: { type: "string", maxLength: 128 } },
            required: ["upload_id"],
          },
        },
      },
      async (req) => {
        const blob = await ctx.store.getBlob(req.params.upload_id);
        if (!blob) throw notFound("UPLOAD_NOT_FOUND", `no upload '${req.params.upload_id}'`);
        if (blob.completed_at) throw new ApiError(409, "UPLOAD_ALREADY_COMPLETED", "this upload already has its bytes");
        const run = await ctx.engine.get(blob.run_id);
        if (!run) throw notFound("RUN_NOT_FOUND", `the run of upload '${blob.blob_id}' is gone`);
        if (run.status !== "running" && run.status !== "cancel_requested") {
          throw new ApiError(
            409,
            "RUN_NOT_RUNNING",
            `run ${run.run_id} is ${run.status}; uploads are accepted only while it runs`,
          );
        }
        const tooLarge = () =>
          new ApiError(413, "UPLOAD_TOO_LARGE", `the upload exceeds its limit of ${blob.max_bytes} bytes`, {
            max_bytes: blob.max_bytes,
          });
        const declared = Number(req.headers["content-length"]);
        if (Number.isFinite(declared) && declared > blob.max_bytes) {
          req.raw.resume();
          throw tooLarge();
        }
        const tmp = path.join(tmpDir, `${blob.blob_id}.${process.pid}.part`);
        let size = 0;
        const counter = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            size += chunk.length;
            if (size > blob.max_bytes) cb(tooLarge());
            else cb(null, chunk);
          },
        });
        try {
          await pipeline(req.body as NodeJS.ReadableStream, counter, fs.createWriteStream(tmp, { flags: "wx" }));
        } catch (e) {
          fs.rmSync(tmp, { force: true });
          if (e instanceof ApiError) {
            req.raw.resume();
            throw e;
          }
          throw new ApiError(400, "UPLOAD_FAILED", `the upload did not complete: ${(e as Error).message}`);
        }
        const final = path.join(blobDir, `${blob.blob_id}.bin`);
        fs.renameSync(tmp, final);
        await ctx.store.updateBlob({ ...blob, size, path: final, completed_at: now() });
        return { ok: true, upload_id: blob.blob_id, blob_id: blob.blob_id, size };
      },
    );
  });

  app.get<{ Params: { run_id: string; blob_id: string } }>(
    "/runs/:run_id/blobs/:blob_id",
    {
      schema: {
        tags: ["uploads"],
        summary: "Download a blob of this run",
        params: {
          type: "object",
          properties: { run_id: { type: "string", maxLength: 128 }, blob_id: { type: "string", maxLength: 128 } },
          required: ["run_id", "blob_id"],
        },
      },
    },
    async (req, reply) => {
      const blob = await ctx.store.getBlob(req.params.blob_id);
      // Another run's blob is reported exactly like a missing one: ids must not be probeable across runs.
      if (!blob || blob.run_id !== req.params.run_id || !blob.path || !blob.completed_at) {
        throw notFound("BLOB_NOT_FOUND", `run ${req.params.run_id} has no blob '${req.params.blob_id}'`);
      }
      reply
        .header("content-type", blob.mime ?? "application/octet-stream")
        .header("content-disposition", `attachment; filename="${blob.blob_id}.bin"`)
        .header("content-length", String(blob.size ?? 0));
      return reply.send(fs.createReadStream(blob.path));
    },
  );
}
