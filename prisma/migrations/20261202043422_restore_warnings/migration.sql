-- AlterTable
ALTER TABLE "restores" ADD COLUMN     "warnings" TEXT[] DEFAULT ARRAY[]::TEXT[];
