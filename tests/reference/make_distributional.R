# glmmTMB references for dispformula= (and ziformula= with it) on Salamanders: tests/test_distributional.py.
# Run from the repository root: Rscript tests/reference/make_distributional.R (writes tests/reference/extra_distributional.json).
suppressMessages({library(glmmTMB); library(jsonlite)})
d <- read.csv("mixjax/datasets/data/Salamanders.csv", stringsAsFactors = FALSE)
cols <- fromJSON("mixjax/datasets/data/columns.json", simplifyVector = FALSE)$Salamanders
for (col in unlist(cols$factors)) d[[col]] <- factor(d[[col]], levels = unlist(cols$levels[[col]]))
m <- glmmTMB(count ~ spp + mined + (1 | site), dispformula = ~ mined, family = nbinom2, data = d)
m2 <- glmmTMB(count ~ spp + mined + (1 | site), ziformula = ~ spp + mined, dispformula = ~ mined, family = nbinom2, data = d)
one <- function(m, call) list(call = call, logLik = as.numeric(logLik(m)), fixef = as.list(fixef(m)$cond),
  fixef_se = as.list(sqrt(diag(vcov(m)$cond))), disp_fixef = as.list(fixef(m)$disp),
  disp_fixef_se = as.list(sqrt(diag(vcov(m)$disp))),
  zi_fixef = if (length(fixef(m)$zi)) as.list(fixef(m)$zi) else NULL,
  zi_fixef_se = if (length(fixef(m)$zi)) as.list(sqrt(diag(vcov(m)$zi))) else NULL,
  sd = attr(VarCorr(m)$cond$site, "stddev")[[1]], fitted_head = head(fitted(m), 6))
out <- list(tmb_salamanders_nb2_disp = one(m, "glmmTMB(count ~ spp + mined + (1 | site), dispformula = ~ mined, family = nbinom2)"),
            tmb_salamanders_zinb2_disp = one(m2, "glmmTMB(count ~ spp + mined + (1 | site), ziformula = ~ spp + mined, dispformula = ~ mined, family = nbinom2)"),
            `_meta` = list(glmmTMB = as.character(packageVersion("glmmTMB")), R = R.version.string))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/extra_distributional.json")
