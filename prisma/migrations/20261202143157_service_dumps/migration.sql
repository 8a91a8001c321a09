-- AlterTable
ALTER TABLE "services" ADD COLUMN     "dumps" JSONB NOT NULL DEFAULT '[]';
