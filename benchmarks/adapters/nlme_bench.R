# Usage: Rscript nlme_bench.R CSV MODEL FIXED RANDOM_PARAMS GROUP START COVARIANCE REPEATS WARM_BUDGET_S FACTOR_COLS
# Prints one line: "@@BENCH_RESULT@@ {json}" (same fields as benchmarks/harness.py).
args <- commandArgs(trailingOnly = TRUE)
mark <- "@@BENCH_RESULT@@ "
json_str <- function(x) paste0('"', gsub('([\\\\"])', "\\\\\\1", gsub("[\r\n\t]", " ", x)), '"')
json_num <- function(x) if (is.null(x) || is.na(x)) "null" else sprintf("%.17g", x)
emit <- function(fields) {
  cat(mark, "{", paste(sprintf('"%s": %s', names(fields), unlist(fields)), collapse = ", "), "}\n", sep = "")
  quit(save = "no")
}
if (!requireNamespace("nlme", quietly = TRUE)) emit(list(skipped = json_str("R package nlme not installed")))
proc_status_mb <- function(key) {
  st <- tryCatch(readLines("/proc/self/status"), error = function(e) character())
  line <- grep(paste0("^", key, ":"), st, value = TRUE)
  if (length(line) == 0) NA else as.numeric(gsub("[^0-9]", "", line)) / 1024
}
suppressPackageStartupMessages(library(nlme))
d <- read.csv(args[1])
factors <- if (length(args) >= 10 && nzchar(args[10])) strsplit(args[10], ",")[[1]] else character()
for (f in factors) d[[f]] <- factor(d[[f]])
model <- as.formula(args[2]); fixed <- as.formula(args[3])
random_form <- as.formula(paste(args[4], "~ 1"))
random <- if (args[7] == "diagonal") pdDiag(random_form) else pdSymm(random_form)
groups <- as.formula(paste("~", args[5]))
pairs <- strsplit(strsplit(args[6], ",")[[1]], "=")
start <- setNames(as.numeric(sapply(pairs, `[`, 2)), sapply(pairs, `[`, 1))
repeats <- as.integer(args[8]); budget <- as.numeric(args[9])
warns <- character()
fit_once <- function(record = FALSE) {
  t0 <- proc.time()[["elapsed"]]
  m <- withCallingHandlers(nlme(model, data = d, fixed = fixed, random = random, groups = groups, start = start),
    warning = function(w) {
      if (record) warns <<- unique(c(warns, substr(conditionMessage(w), 1, 200)))
      invokeRestart("muffleWarning")
    })
  list(t = proc.time()[["elapsed"]] - t0, loglik = as.numeric(logLik(m)))
}
base <- proc_status_mb("VmRSS")
first <- tryCatch(fit_once(record = TRUE), error = function(e) e)
if (inherits(first, "error")) emit(list(error = json_str(paste("nlme failed:", conditionMessage(first)))))
warm <- numeric()
start_t <- proc.time()[["elapsed"]]
while (length(warm) < repeats && (length(warm) == 0 || proc.time()[["elapsed"]] - start_t < budget)) {
  warm <- c(warm, fit_once()$t)
}
emit(list(
  first_s = json_num(first$t),
  warm_median_s = if (length(warm)) json_num(median(warm)) else "null",
  warm_s = paste0("[", paste(sprintf("%.6f", warm), collapse = ", "), "]"),
  loglik = json_num(first$loglik),
  base_rss_mb = json_num(base),
  peak_rss_mb = json_num(proc_status_mb("VmHWM")),
  warnings = paste0("[", paste(vapply(warns, json_str, ""), collapse = ", "), "]")
))
