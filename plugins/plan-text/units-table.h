/* Data of plan-text: whose a unit is, and the names one unit goes by.
 *
 * Districts, counties and functional zones of the two cities, from the
 * public administrative division lists (济南市: 10 districts, 2 counties since
 * 2019; 临沂市: 3 districts, 9 counties) and the cities' published lists of
 * development zones. A unit name starting with one of them (罗庄经济开发区管委会,
 * 蒙阴县政府) belongs to that city. Included by plan-text.c only. */

static const char *const jinan_places[] = {
    "历下区", "市中区", "槐荫区", "天桥区", "历城区", "长清区", "章丘区", "济阳区", "莱芜区", "钢城区",
    "平阴县", "商河县",
    /* functional zones */
    "济南高新区", "高新技术产业开发区", "新旧动能转换起步区", "起步区", "南部山区", "莱芜高新区",
    "明水经济技术开发区", "济南综合保税区", "自贸试验区济南片区", "中国(山东)自由贸易试验区济南片区",
};

static const char *const linyi_places[] = {
    "兰山区", "罗庄区", "河东区", "沂南县", "郯城县", "沂水县", "兰陵县", "费县", "平邑县", "莒南县",
    "蒙阴县", "临沭县",
    /* functional zones */
    "临沂高新区", "临沂经济技术开发区", "临港经济开发区", "临港经济技术开发区", "临港区", "沂河新区",
    "罗庄经济开发区", "蒙阴经济开发区", "临沂综合保税区", "临沂商城",
    /* a city body named after the region, not the city */
    "沂蒙干部学院",
};

/* Offices of central agencies, whose names do not say whose they are the way
 * a city department's does: the provincial offices (financial regulation,
 * securities, customs, civil aviation, the People's Bank's provincial branch)
 * are `province`, a city-level branch is its city's. Exact canonical names. */
static const struct { const char *name, *city; } agency_cities[] = {
    {"中国人民银行山东省分行", "province"},
    {"中国人民银行山东省分行营业管理部", "jinan"}, /* the Jinan city-level office, beside 临沂市分行 */
    {"中国人民银行临沂市分行", "linyi"},
    {"国家金融监督管理总局山东监管局", "province"},
    {"国家金融监督管理总局济南监管分局", "jinan"},
    {"国家金融监督管理总局临沂监管分局", "linyi"},
    {"中国证监会山东监管局", "province"},
    {"山东证监局", "province"},
    {"济南海关", "province"}, /* the customs district of the whole province */
    {"青岛海关", "province"},
    {"临沂海关", "linyi"},
    {"民航山东监管局", "province"},
    {"国家税务总局山东省税务局", "province"},
    {"国家税务总局济南市税务局", "jinan"},
    {"国家税务总局临沂市税务局", "linyi"},
};

/* Names one unit goes by: {alias, canonical}. Renamed bodies (the People's
 * Bank branches became 分行 in 2024, the banking regulator's branches became
 * 国家金融监督管理总局 offices in 2023) and the spellings the documents use
 * side by side. Options can add more (`aliases`). */
static const struct { const char *alias, *canonical; } unit_aliases[] = {
    {"济南市场监管局", "济南市市场监管局"},
    {"临沂市商城管委会", "临沂商城管委会"},
    {"临沂商场管委会", "临沂商城管委会"}, /* 2023 work points, task 14, as printed */
    {"临沂临港经济技术开发区管委会", "临沂临港经济开发区管委会"},
    {"中国人民银行济南分行营业管理部", "中国人民银行山东省分行营业管理部"},
    {"中国人民银行济南分行", "中国人民银行山东省分行"},
    {"中国人民银行临沂市中心支行", "中国人民银行临沂市分行"},
    {"人民银行临沂市中心支行", "中国人民银行临沂市分行"},
    {"临沂市银保监分局", "国家金融监督管理总局临沂监管分局"},
    {"临沂银保监分局", "国家金融监督管理总局临沂监管分局"},
    {"山东银保监局", "国家金融监督管理总局山东监管局"},
    {"山东金融监管局", "国家金融监督管理总局山东监管局"},
    {"济南银保监分局", "国家金融监督管理总局济南监管分局"},
    {"中国证券监督管理委员会山东监管局", "中国证监会山东监管局"},
};

/* Endings of a unit name: a parenthesis holding only such names is a unit
 * list even without a role word (province plans: （省教育厅、省科技厅）). */
static const char *const unit_endings[] = {
    "厅", "委", "局", "办", "院", "部", "政府", "中心", "管委会", "公司", "分行", "支行", "海关", "学院",
    "党校", "集团", "联", "会", "室", "署", "总队", "平台", "机构", "单位", "部门", "大学",
};
