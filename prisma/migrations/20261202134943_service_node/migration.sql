-- AlterTable
ALTER TABLE "restores" ADD COLUMN     "node" TEXT;

-- AlterTable
ALTER TABLE "services" ADD COLUMN     "node" TEXT;
