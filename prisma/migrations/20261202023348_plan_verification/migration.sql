-- CreateEnum
CREATE TYPE "verify_schedule" AS ENUM ('off', 'daily', 'weekly');

-- CreateEnum
CREATE TYPE "verify_kind" AS ENUM ('scheduled', 'deep');

-- AlterTable
ALTER TABLE "plans" ADD COLUMN     "verify_percent" INTEGER NOT NULL DEFAULT 10,
ADD COLUMN     "verify_schedule" "verify_schedule" NOT NULL DEFAULT 'off';

-- CreateTable
CREATE TABLE "verifications" (
    "id" UUID NOT NULL,
    "plan_id" UUID NOT NULL,
    "target_id" UUID NOT NULL,
    "kind" "verify_kind" NOT NULL,
    "status" "job_status" NOT NULL DEFAULT 'running',
    "slice_index" INTEGER,
    "slice_count" INTEGER,
    "packs_read" INTEGER NOT NULL DEFAULT 0,
    "packs_total" INTEGER NOT NULL DEFAULT 0,
    "errors" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "ok" BOOLEAN,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "verifications_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "verifications_plan_id_started_at_idx" ON "verifications"("plan_id", "started_at");

-- CreateIndex
CREATE INDEX "verifications_target_id_idx" ON "verifications"("target_id");

-- AddForeignKey
ALTER TABLE "verifications" ADD CONSTRAINT "verifications_plan_id_fkey" FOREIGN KEY ("plan_id") REFERENCES "plans"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "verifications" ADD CONSTRAINT "verifications_target_id_fkey" FOREIGN KEY ("target_id") REFERENCES "targets"("id") ON DELETE CASCADE ON UPDATE CASCADE;
