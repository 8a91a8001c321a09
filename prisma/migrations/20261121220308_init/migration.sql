-- CreateEnum
CREATE TYPE "arch" AS ENUM ('x86_64', 'arm64', 'riscv64', 'other');

-- CreateEnum
CREATE TYPE "service_state" AS ENUM ('idle', 'backing_up', 'restoring');

-- CreateEnum
CREATE TYPE "target_kind" AS ENUM ('local', 'network', 's3');

-- CreateEnum
CREATE TYPE "plan_frequency" AS ENUM ('daily', 'weekly');

-- CreateEnum
CREATE TYPE "run_trigger" AS ENUM ('schedule', 'manual');

-- CreateEnum
CREATE TYPE "run_status" AS ENUM ('queued', 'running', 'success', 'partial', 'failed');

-- CreateEnum
CREATE TYPE "job_status" AS ENUM ('queued', 'running', 'success', 'failed');

-- CreateEnum
CREATE TYPE "webhook_status" AS ENUM ('pending', 'delivered', 'failed');

-- CreateTable
CREATE TABLE "api_tokens" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "token_hash" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_used_at" TIMESTAMPTZ(3),
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "services" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "data_path" TEXT NOT NULL,
    "excludes" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "arch" "arch" NOT NULL,
    "pre_hook" JSONB,
    "post_hook" JSONB,
    "state" "service_state" NOT NULL DEFAULT 'idle',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "services_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "targets" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "kind" "target_kind" NOT NULL,
    "path" TEXT,
    "s3_endpoint" TEXT,
    "s3_bucket" TEXT,
    "s3_prefix" TEXT,
    "s3_region" TEXT,
    "s3_access_key" TEXT,
    "s3_secret_enc" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "targets_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "plans" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "frequency" "plan_frequency" NOT NULL,
    "start_time" TEXT NOT NULL,
    "day_of_week" INTEGER,
    "timezone" TEXT NOT NULL,
    "retention" JSONB NOT NULL,
    "paused" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "deleted_at" TIMESTAMPTZ(3),

    CONSTRAINT "plans_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "plan_targets" (
    "plan_id" UUID NOT NULL,
    "target_id" UUID NOT NULL,
    "repo_id" TEXT NOT NULL,
    "repo_location" TEXT NOT NULL,
    "writer_key_enc" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "plan_targets_pkey" PRIMARY KEY ("plan_id","target_id")
);

-- CreateTable
CREATE TABLE "plan_services" (
    "plan_id" UUID NOT NULL,
    "service_id" UUID NOT NULL,

    CONSTRAINT "plan_services_pkey" PRIMARY KEY ("plan_id","service_id")
);

-- CreateTable
CREATE TABLE "runs" (
    "id" UUID NOT NULL,
    "plan_id" UUID NOT NULL,
    "trigger" "run_trigger" NOT NULL,
    "status" "run_status" NOT NULL DEFAULT 'queued',
    "flow_job_id" TEXT,
    "queued_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "runs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "service_backups" (
    "id" UUID NOT NULL,
    "run_id" UUID NOT NULL,
    "service_id" UUID NOT NULL,
    "target_id" UUID NOT NULL,
    "status" "job_status" NOT NULL DEFAULT 'queued',
    "snapshot_id" TEXT,
    "total_bytes" BIGINT NOT NULL DEFAULT 0,
    "bytes_read" BIGINT NOT NULL DEFAULT 0,
    "bytes_added" BIGINT NOT NULL DEFAULT 0,
    "files" INTEGER NOT NULL DEFAULT 0,
    "unreadable" JSONB NOT NULL DEFAULT '[]',
    "error" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "duration_ms" INTEGER,

    CONSTRAINT "service_backups_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "snapshots" (
    "id" TEXT NOT NULL,
    "target_id" UUID NOT NULL,
    "plan_id" UUID NOT NULL,
    "service_id" UUID,
    "time" TIMESTAMPTZ(3) NOT NULL,
    "arch" "arch" NOT NULL,
    "total_bytes" BIGINT NOT NULL,
    "bytes_added" BIGINT NOT NULL,
    "files" INTEGER NOT NULL,
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "run_id" UUID,

    CONSTRAINT "snapshots_pkey" PRIMARY KEY ("id","target_id")
);

-- CreateTable
CREATE TABLE "reports" (
    "run_id" UUID NOT NULL,
    "status" "run_status" NOT NULL,
    "summary" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "webhook_status" "webhook_status",
    "notified_at" TIMESTAMPTZ(3),

    CONSTRAINT "reports_pkey" PRIMARY KEY ("run_id")
);

-- CreateTable
CREATE TABLE "restores" (
    "id" UUID NOT NULL,
    "service_id" UUID NOT NULL,
    "snapshot_id" TEXT NOT NULL,
    "target_id" UUID NOT NULL,
    "destination" TEXT NOT NULL,
    "status" "job_status" NOT NULL DEFAULT 'queued',
    "error" TEXT,
    "cross_arch" BOOLEAN NOT NULL DEFAULT false,
    "queued_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "restores_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "api_tokens_token_hash_key" ON "api_tokens"("token_hash");

-- CreateIndex
CREATE UNIQUE INDEX "services_name_key" ON "services"("name");

-- CreateIndex
CREATE UNIQUE INDEX "targets_name_key" ON "targets"("name");

-- CreateIndex
CREATE UNIQUE INDEX "plans_name_key" ON "plans"("name");

-- CreateIndex
CREATE INDEX "plan_targets_target_id_idx" ON "plan_targets"("target_id");

-- CreateIndex
CREATE INDEX "plan_services_service_id_idx" ON "plan_services"("service_id");

-- CreateIndex
CREATE UNIQUE INDEX "runs_flow_job_id_key" ON "runs"("flow_job_id");

-- CreateIndex
CREATE INDEX "runs_plan_id_queued_at_idx" ON "runs"("plan_id", "queued_at");

-- CreateIndex
CREATE INDEX "service_backups_service_id_finished_at_idx" ON "service_backups"("service_id", "finished_at");

-- CreateIndex
CREATE INDEX "service_backups_target_id_idx" ON "service_backups"("target_id");

-- CreateIndex
CREATE UNIQUE INDEX "service_backups_run_id_service_id_target_id_key" ON "service_backups"("run_id", "service_id", "target_id");

-- CreateIndex
CREATE INDEX "snapshots_plan_id_time_idx" ON "snapshots"("plan_id", "time");

-- CreateIndex
CREATE INDEX "snapshots_service_id_target_id_time_idx" ON "snapshots"("service_id", "target_id", "time");

-- CreateIndex
CREATE INDEX "snapshots_target_id_time_idx" ON "snapshots"("target_id", "time");

-- CreateIndex
CREATE INDEX "snapshots_run_id_idx" ON "snapshots"("run_id");

-- CreateIndex
CREATE INDEX "restores_service_id_queued_at_idx" ON "restores"("service_id", "queued_at");

-- CreateIndex
CREATE INDEX "restores_target_id_idx" ON "restores"("target_id");

-- AddForeignKey
ALTER TABLE "plan_targets" ADD CONSTRAINT "plan_targets_plan_id_fkey" FOREIGN KEY ("plan_id") REFERENCES "plans"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "plan_targets" ADD CONSTRAINT "plan_targets_target_id_fkey" FOREIGN KEY ("target_id") REFERENCES "targets"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "plan_services" ADD CONSTRAINT "plan_services_plan_id_fkey" FOREIGN KEY ("plan_id") REFERENCES "plans"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "plan_services" ADD CONSTRAINT "plan_services_service_id_fkey" FOREIGN KEY ("service_id") REFERENCES "services"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "runs" ADD CONSTRAINT "runs_plan_id_fkey" FOREIGN KEY ("plan_id") REFERENCES "plans"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "service_backups" ADD CONSTRAINT "service_backups_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "service_backups" ADD CONSTRAINT "service_backups_service_id_fkey" FOREIGN KEY ("service_id") REFERENCES "services"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "service_backups" ADD CONSTRAINT "service_backups_target_id_fkey" FOREIGN KEY ("target_id") REFERENCES "targets"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "snapshots" ADD CONSTRAINT "snapshots_target_id_fkey" FOREIGN KEY ("target_id") REFERENCES "targets"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "snapshots" ADD CONSTRAINT "snapshots_plan_id_fkey" FOREIGN KEY ("plan_id") REFERENCES "plans"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "snapshots" ADD CONSTRAINT "snapshots_service_id_fkey" FOREIGN KEY ("service_id") REFERENCES "services"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "snapshots" ADD CONSTRAINT "snapshots_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "runs"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "reports" ADD CONSTRAINT "reports_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "restores" ADD CONSTRAINT "restores_service_id_fkey" FOREIGN KEY ("service_id") REFERENCES "services"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "restores" ADD CONSTRAINT "restores_target_id_fkey" FOREIGN KEY ("target_id") REFERENCES "targets"("id") ON DELETE CASCADE ON UPDATE CASCADE;
