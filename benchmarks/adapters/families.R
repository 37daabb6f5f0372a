# Usage: Rscript families.R CSV CALL FACTORS REPEATS
# Times an R fit for benchmarks/families.py: CALL is R code evaluated on the data frame `d` read from CSV (the rows
# mixjax fits), with the comma-separated FACTORS columns made factors (levels in order of appearance). The first fit
# in this process is "first_s"; then up to REPEATS more (60 s at most) give "warm_s" (their median). Prints one line
# "@@BENCH_RESULT@@ {json}" with first_s, warm_s, n_warm, loglik, peak_rss_mb, or error.
args <- commandArgs(trailingOnly = TRUE)
mark <- "@@BENCH_RESULT@@ "
suppressPackageStartupMessages({library(glmmTMB); library(survival); library(jsonlite)})
d <- read.csv(args[1])
for (f in strsplit(args[3], ",")[[1]]) if (nzchar(f)) d[[f]] <- factor(d[[f]], levels = unique(d[[f]]))
call <- parse(text = args[2])[[1]]
repeats <- as.integer(args[4])
now <- function() proc.time()[["elapsed"]]
emit <- function(x) { cat(mark, toJSON(x, auto_unbox = TRUE, digits = NA), "\n", sep = ""); quit(save = "no") }
peak <- function() {
  line <- grep("^VmHWM:", readLines("/proc/self/status"), value = TRUE)
  as.numeric(gsub("[^0-9]", "", line)) / 1024
}
t0 <- now()
m <- tryCatch(suppressWarnings(eval(call)), error = function(e) emit(list(error = conditionMessage(e))))
first <- now() - t0
warm <- c()
start <- now()
while (length(warm) < repeats && (length(warm) == 0 || now() - start < 60)) {
  t0 <- now(); suppressWarnings(eval(call)); warm <- c(warm, now() - t0)
}
emit(list(first_s = first, warm_s = if (length(warm)) median(warm) else NULL, n_warm = length(warm),
          loglik = as.numeric(logLik(m)), peak_rss_mb = peak()))
