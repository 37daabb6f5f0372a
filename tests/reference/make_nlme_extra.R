# Extra nlme references that ../shared does not have. Run from the repository root:
#   Rscript tests/reference/make_nlme_extra.R   (writes tests/reference/extra_nlme_*.json)
suppressMessages({library(nlme); library(jsonlite)})
orange <- read.csv("mixjax/datasets/data/Orange.csv")
orange$Tree <- factor(orange$Tree)
m <- nlme(circumference ~ Asym / (1 + exp((xmid - age) / scal)), data = orange, fixed = Asym + xmid + scal ~ 1,
          random = Asym ~ 1 | Tree, start = c(Asym = 192, xmid = 728, scal = 353), method = "REML")
vc <- VarCorr(m)
write_json(list(id = "extra_nlme_orange_reml", dataset = "Orange", method = "REML",
                fixef = as.list(fixef(m)), fixef_se = as.list(sqrt(diag(vcov(m)))),
                sd_Asym = as.numeric(vc["Asym", "StdDev"]), sigma = m$sigma, logLik = as.numeric(logLik(m)),
                engine = paste("nlme", packageVersion("nlme"))),
           "tests/reference/extra_nlme_orange_reml.json", auto_unbox = TRUE, digits = NA)
