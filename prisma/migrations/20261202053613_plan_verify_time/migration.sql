-- AlterTable
ALTER TABLE "plans" ADD COLUMN     "verify_time" TEXT NOT NULL DEFAULT '04:00';
